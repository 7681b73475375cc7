import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Runs redis-server binaries for the store's tests and benchmark: on loopback,
 * a free port, no persistence, in a temporary directory. Shared by
 * test/support/redis.ts (tests) and bench/store-bench.ts (the build compiles
 * bench/, not test/).
 */
export interface RedisServerProcess {
  readonly port: number;
  readonly url: string;
  /** SIGKILL: Redis dies mid-traffic, as in a crash. */
  kill(): Promise<void>;
  /** Starts the same server again, on the same port. */
  restart(): Promise<void>;
  /** SIGTERM, then removes the server's directory (unless the caller gave it). */
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  /** A free port is picked when absent. */
  readonly port?: number;
  /** More `--name value` arguments, e.g. cluster settings. */
  readonly extraArgs?: readonly string[];
  /** Working directory; a fresh temporary one (removed by stop()) when absent. */
  readonly dir?: string;
  /** A config file read first (a sentinel needs one it can rewrite); arguments override it. */
  readonly configFile?: string;
}

const START_TIMEOUT_MS = 10_000;
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A test runner that dies must not leave redis-servers behind. */
function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const proc of running) proc.kill('SIGKILL');
  });
}

export function hasRedisServerBinary(): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('redis-server', ['--version'], (err) => resolve(err === null));
  });
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerProcess> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'tagcache-redis-')));
  const args = [
    ...(options.configFile === undefined ? [] : [options.configFile]),
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--loglevel',
    'warning',
    ...(options.extraArgs ?? []),
  ];
  let child = await spawnUntilPong(args, port);
  const exited = (proc: ChildProcess) => proc.exitCode !== null || proc.signalCode !== null;
  const terminate = async (signal: NodeJS.Signals) => {
    if (exited(child)) return;
    const gone = once(child, 'exit');
    child.kill(signal);
    await gone;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: () => terminate('SIGKILL'),
    async restart() {
      await terminate('SIGKILL');
      child = await spawnUntilPong(args, port);
    },
    async stop() {
      await Promise.race([terminate('SIGTERM'), delay(5_000)]);
      await terminate('SIGKILL');
      if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

async function spawnUntilPong(args: readonly string[], port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let onError: (err: Error) => void = () => {};
  let onExit: (code: number | null, signal: NodeJS.Signals | null) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    onError = (err) => reject(new Error(`redis-server could not start: ${err.message}`, { cause: err }));
    onExit = (code, signal) =>
      reject(new Error(`redis-server on port ${port} exited (${signal ?? code}) while starting:\n${output}`));
  });
  child.once('exit', onExit);
  // Kept for the child's whole life: an 'error' event without a listener would crash the runner.
  child.on('error', (err) => onError(err));
  try {
    await Promise.race([waitForPong(port), failed]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    child.off('exit', onExit);
    onError = (err) => process.stderr.write(`redis-server on port ${port}: ${err.message}\n`);
  }
  return child;
}

async function waitForPong(port: number): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      if ((await redisCommand(port, ['PING'])) === 'PONG') return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`redis-server on port ${port} did not answer PING`, { cause: err });
    }
    await delay(20);
  }
}

/**
 * One command over a fresh socket, RESP2 replies of one line or one bulk
 * string only: enough to probe servers without a client library's retries.
 */
export function redisCommand(port: number, args: readonly string[], timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let data = Buffer.alloc(0);
    const done = (err: Error | undefined, value?: string) => {
      socket.destroy();
      if (err) reject(err);
      else resolve(value ?? '');
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`redis on port ${port}: no answer to ${args[0]}`)));
    socket.on('error', (err) => done(err));
    socket.on('connect', () => {
      const parts = [`*${args.length}\r\n`];
      for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
      socket.write(parts.join(''));
    });
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const reply = parseReply(data);
      if (reply === undefined) return;
      if (reply.error) done(new Error(`redis on port ${port}: ${reply.text}`));
      else done(undefined, reply.text);
    });
  });
}

function parseReply(data: Buffer): { text: string; error: boolean } | undefined {
  const lineEnd = data.indexOf('\r\n');
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(data[0] ?? 0);
  const line = data.subarray(1, lineEnd).toString();
  if (type !== '$') return { text: line, error: type === '-' };
  const length = Number(line);
  if (length < 0) return { text: '', error: false };
  const start = lineEnd + 2;
  if (data.length < start + length + 2) return undefined;
  return { text: data.subarray(start, start + length).toString(), error: false };
}

/** A port the OS just had free on loopback. */
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

export async function isPortFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
