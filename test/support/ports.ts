import { once } from 'node:events';
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
 * A loopback URL nothing listens on, for "backend down" cases: a port just
 * released by the kernel is refused (ECONNREFUSED) until someone binds it again.
 */
export async function closedPortUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}
