import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A loopback port that was free a moment ago: bound on port 0, then released.
 * For children that must be told their port up front (spawnProxy); in-process
 * servers should listen on 0 themselves.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP address for a free port');
  return address.port;
}

/** Two distinct free ports, for a child's proxy and admin listeners. */
export async function freePorts(): Promise<{ port: number; adminPort: number }> {
  const port = await freePort();
  let adminPort = await freePort();
  while (adminPort === port) adminPort = await freePort();
  return { port, adminPort };
}

/**
 * A loopback port nothing listens on, for "backend down" cases (ECONNREFUSED),
 * taken below the kernel's ephemeral range: a port from freePort() can be handed
 * to any other suite's listen(0) a moment later, and a full run once saw such a
 * "dead" backend answer (with another test's server behind it).
 */
export async function refusedPort(): Promise<number> {
  const first = ephemeralRangeStart();
  for (let i = 0; first > 11_000 && i < 50; i++) {
    const port = 10_000 + Math.floor(Math.random() * (first - 10_000));
    if (await bindable(port)) return port;
  }
  return freePort();
}

/** A loopback URL nothing listens on (see refusedPort). */
export async function closedPortUrl(): Promise<string> {
  return `http://127.0.0.1:${await refusedPort()}`;
}

function ephemeralRangeStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
}

async function bindable(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
