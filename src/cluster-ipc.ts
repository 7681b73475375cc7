import type { Worker } from 'node:cluster';

/** Operations a cluster primary asks of its workers. */
export type WorkerOp = 'ready' | 'invalidate' | 'history' | 'entries' | 'reloadRoutes';

export interface OpRequest {
  readonly type: 'tagcache:op';
  readonly id: number;
  readonly op: WorkerOp;
  readonly payload: unknown;
}

export interface OpReply {
  readonly type: 'tagcache:reply';
  readonly id: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: string;
}

let nextId = 1;

export function isOpRequest(msg: unknown): msg is OpRequest {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'tagcache:op';
}

export function isOpReply(msg: unknown): msg is OpReply {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'tagcache:reply';
}

/** Sends one operation to a worker and waits for its reply, at most timeoutMs. */
export function askWorker(
  worker: Worker,
  op: WorkerOp,
  payload: unknown,
  timeoutMs: number,
): Promise<unknown> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const onMessage = (msg: unknown) => {
      if (!isOpReply(msg) || msg.id !== id) return;
      cleanup();
      if (msg.ok) resolve(msg.value);
      else reject(new Error(msg.error ?? `worker ${worker.id} failed ${op}`));
    };
    const onExit = () => {
      cleanup();
      reject(new Error(`worker ${worker.id} exited during ${op}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`worker ${worker.id} did not answer ${op} within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.once('exit', onExit);
    const request: OpRequest = { type: 'tagcache:op', id, op, payload };
    worker.send(request);
  });
}
