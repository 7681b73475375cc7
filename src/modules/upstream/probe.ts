import { connect } from 'node:net';
import { originKey } from './origin-key.js';

/**
 * A cheap reachability check for /health/ready: a TCP connect to the origin,
 * remembered for a few seconds so a busy health checker costs the backend nothing.
 */
export function createOriginProbe({ timeoutMs = 1_000, cacheMs = 2_000 } = {}) {
  const last = new Map<string, { at: number; result: Promise<void> }>();
  return function probe(origin: URL): Promise<void> {
    const now = Date.now();
    const cached = last.get(originKey(origin));
    if (cached !== undefined && now - cached.at < cacheMs) return cached.result;
    const result = tcpConnect(origin, timeoutMs);
    // The remembered promise must not count as an unhandled rejection while nobody awaits it.
    result.catch(() => undefined);
    last.set(originKey(origin), { at: now, result });
    return result;
  };
}

function tcpConnect(origin: URL, timeoutMs: number): Promise<void> {
  const port = Number(origin.port || (origin.protocol === 'https:' ? 443 : 80));
  const host = origin.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${origin.host} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * Resolves when any of the origins accepts a connection (one live backend
 * is enough to serve); rejects with the first origin's reason when none does.
 */
export async function probeAny(
  probe: (origin: URL) => Promise<void>,
  origins: readonly URL[],
): Promise<void> {
  if (origins.length === 0) return;
  try {
    await Promise.any(origins.map((origin) => probe(origin)));
  } catch (err) {
    const first = err instanceof AggregateError ? (err.errors[0] as unknown) : err;
    throw first instanceof Error ? first : new Error(String(first));
  }
}
