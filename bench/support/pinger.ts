import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';

/**
 * A worker thread pinging Redis back to back, on its own event loop: the
 * latency another client sees while the bench keeps Redis busy, undistorted
 * by the bench's own JavaScript. Posts 'ready', then its figures on 'stop'.
 */
export interface PingFigures {
  readonly pings: number;
  readonly worstMs: number;
  readonly p99Ms: number;
}

const port = parentPort;
if (port === null) throw new Error('pinger.js runs as a worker thread');
const { url } = workerData as { url: string };
const client = new Redis(url);
const latencies: number[] = [];
let running = true;
port.on('message', () => {
  running = false;
});
await client.ping();
port.postMessage('ready');
while (running) {
  const started = performance.now();
  await client.ping();
  latencies.push(performance.now() - started);
}
client.disconnect();
latencies.sort((a, b) => a - b);
const figures: PingFigures = {
  pings: latencies.length,
  worstMs: latencies.at(-1) ?? 0,
  p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
};
port.postMessage(figures);
