import { describe, expect, it } from 'vitest';
import { clientAddress, createTrustedProxies, parseAddressRange } from '../../src/utils/client-address.js';

const trust = (...ranges: string[]) =>
  createTrustedProxies(ranges.map((r) => parseAddressRange(r) ?? { address: r, prefix: 0, family: 'ipv4' }));

describe('the client address behind trusted proxies', () => {
  const lbs = trust('10.0.0.0/8', '2001:db8::/32');

  it('is the peer when nobody is trusted, whatever X-Forwarded-For says', () => {
    expect(clientAddress('192.0.2.1', '198.51.100.7', trust())).toBe('192.0.2.1');
  });

  it('is the peer when the peer is not a trusted proxy', () => {
    expect(clientAddress('192.0.2.1', '198.51.100.7', lbs)).toBe('192.0.2.1');
  });

  it('is the right-most untrusted entry behind trusted proxies', () => {
    expect(clientAddress('10.0.0.2', '6.6.6.6, 198.51.100.7, 10.1.1.1', lbs)).toBe('198.51.100.7');
    expect(clientAddress('::ffff:10.0.0.2', ['6.6.6.6', '198.51.100.8:4711'], lbs)).toBe('198.51.100.8');
    expect(clientAddress('2001:db8::1', '[2001:db9::5]:443', lbs)).toBe('2001:db9::5');
  });

  it('stops at garbage a trusted proxy would never write, keeping the last address it can vouch for', () => {
    expect(clientAddress('10.0.0.2', 'not-an-ip, 10.3.3.3', lbs)).toBe('10.3.3.3');
  });

  it('is the left-most entry when every hop is trusted', () => {
    expect(clientAddress('10.0.0.2', '10.9.9.9, 10.8.8.8', lbs)).toBe('10.9.9.9');
  });
});
