import { BlockList, isIP } from 'node:net';
import { headerList } from './headers.js';

/** One entry of TRUSTED_PROXIES: an address with its prefix length (32 or 128 for a single address). */
export interface AddressRange {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** "10.0.0.0/8", "192.168.1.7", "::1" or "fd00::/8"; undefined when it is none of these. */
export function parseAddressRange(text: string): AddressRange | undefined {
  const [address, bits, extra] = text.trim().split('/');
  if (address === undefined || extra !== undefined) return undefined;
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max)) return undefined;
  return {
    address,
    prefix: bits === undefined ? max : Number(bits),
    family: version === 4 ? 'ipv4' : 'ipv6',
  };
}

/** The proxies whose X-Forwarded-* headers tagcache believes. */
export interface TrustedProxies {
  /** True when nobody is trusted (the default): no header from a client is believed. */
  readonly none: boolean;
  has(address: string): boolean;
}

export function createTrustedProxies(ranges: readonly AddressRange[]): TrustedProxies {
  const list = new BlockList();
  for (const r of ranges) list.addSubnet(r.address, r.prefix, r.family);
  const none = ranges.length === 0;
  return {
    none,
    has(address) {
      if (none) return false;
      const plain = unmapped(address);
      const version = isIP(plain);
      return version !== 0 && list.check(plain, version === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

/** A dual-stack socket reports IPv4 peers as "::ffff:10.0.0.1"; ranges are written as "10.0.0.0/8". */
export function unmapped(address: string): string {
  if (address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:' && isIP(address.slice(7)) === 4) {
    return address.slice(7);
  }
  return address;
}

/**
 * The client's address. The socket peer, unless the peer is a trusted proxy:
 * then X-Forwarded-For is walked from the right (the entries our trusted
 * proxies appended) and the first address that is not itself a trusted proxy
 * is the client. Entries further left were written by the client and prove
 * nothing, which is why the left-most one is never taken on trust.
 */
export function clientAddress(
  peer: string,
  forwardedFor: string | string[] | undefined,
  trusted: TrustedProxies,
): string {
  let client = unmapped(peer);
  if (forwardedFor === undefined || !trusted.has(client)) return client;
  const hops = headerList(forwardedFor);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress(hops[i] ?? '');
    // Garbage where a trusted proxy should have written an address: keep the last address we can vouch for.
    if (hop === undefined) return client;
    client = hop;
    if (!trusted.has(hop)) return hop;
  }
  return client;
}

/** An X-Forwarded-For entry as an address: "1.2.3.4", "1.2.3.4:5678", "::1" or "[::1]:80". */
function hopAddress(entry: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  const candidate = bracketed?.[1] ?? /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry)?.[1] ?? entry;
  const plain = unmapped(candidate);
  return isIP(plain) === 0 ? undefined : plain;
}
