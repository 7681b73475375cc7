import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `npm run bench:idle`: the proxy's RSS with the default configuration,
 * idle, then holding IDLE_CONNECTIONS (10,000) keep-alive client connections
 * that each made one request. The npm script raises `ulimit -n` for this
 * process and the proxy; the keep-alive timeout is raised so the connections
 * stay open while they are counted.
 */
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const COUNT = Number(process.env.IDLE_CONNECTIONS ?? 10_000);
const HOLD_MS = Number(process.env.IDLE_HOLD_MS ?? 5_000);
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const address = srv.address();
  srv.close();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

function node(script: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, script)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
}

async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      await (await fetch(url)).arrayBuffer();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not answer`);
}

function status(pid: number, field: string): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)?.[1] ?? Number.NaN);
}

/** One keep-alive request on a fresh connection; resolves with the socket once the answer's head is in. */
function request(port: number): Promise<Socket> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('error', reject);
    socket.once('connect', () => socket.write('GET /item HTTP/1.1\r\nHost: bench\r\n\r\n'));
    socket.once('data', () => {
      socket.removeListener('error', reject);
      socket.on('error', () => {});
      resolvePromise(socket);
    });
  });
}

async function main(): Promise<void> {
  const originPort = await freePort();
  node('dist/bench/origin-server.js', { PORT: String(originPort) });
  await waitHttp(`http://127.0.0.1:${originPort}/warm`);
  const port = await freePort();
  const adminPort = await freePort();
  const proxy = node('dist/src/main.js', {
    UPSTREAM_URL: `http://127.0.0.1:${originPort}`,
    PORT: String(port),
    ADMIN_PORT: String(adminPort),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ACCESS_LOG: 'off',
    SERVER_KEEPALIVE_TIMEOUT_MS: String(HOLD_MS * 4 + 60_000),
  });
  const pid = proxy.pid ?? 0;
  await waitHttp(`http://127.0.0.1:${adminPort}/health/live`);
  await waitHttp(`http://127.0.0.1:${port}/item`);
  await new Promise((r) => setTimeout(r, 1_000));
  const idleKiB = status(pid, 'VmRSS');

  const sockets: Socket[] = [];
  let failed = 0;
  // In batches: a burst of thousands of SYNs overflows the listen backlog.
  for (let i = 0; i < COUNT; i += 250) {
    const batch = await Promise.allSettled(
      Array.from({ length: Math.min(250, COUNT - i) }, () => request(port)),
    );
    for (const r of batch) {
      if (r.status === 'fulfilled') sockets.push(r.value);
      else failed++;
    }
  }
  await new Promise((r) => setTimeout(r, HOLD_MS));
  const open = sockets.filter((s) => !s.destroyed && !s.readableEnded).length;
  const heldKiB = status(pid, 'VmRSS');
  const fds = status(pid, 'FDSize');
  for (const s of sockets) s.destroy();
  const mib = (kib: number) => (kib / 1024).toFixed(1);
  process.stdout.write(
    `idle RSS ${mib(idleKiB)} MiB (default configuration, access log off)\n` +
      `${open} of ${COUNT} keep-alive connections still open after ${HOLD_MS} ms idle (${failed} failed to connect): ` +
      `RSS ${mib(heldKiB)} MiB, ${(((heldKiB - idleKiB) * 1024) / Math.max(1, open) / 1024).toFixed(1)} KiB per connection (fd table ${fds})\n`,
  );
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
