import { describe, expect, it } from 'vitest';
import { type AccessLine, createAccessLog } from '../../src/utils/access-log.js';
import { captureLog } from '../support/log.js';

function line(id: string, path: string): AccessLine {
  return {
    id,
    method: 'GET',
    path,
    route: 'default',
    status: 200,
    cache: 'MISS',
    bytes: 3,
    ms: 1.5,
    upstreamMs: 1.25,
    upstream: '127.0.0.1:1',
    err: undefined,
    error: false,
  };
}

describe('the fast access log', () => {
  it('writes whole lines once a chunk fills, in order, whatever their bytes', () => {
    const { log, lines } = captureLog();
    // Chunks of 300 bytes and batches of two lines: each batch fills a chunk, so the text is
    // written without a flush; a path longer than any chunk goes straight to the stream.
    const access = createAccessLog(log, { formatBatch: 2, chunkBytes: 300 });
    const paths = [
      '/plain',
      '/café/日本/😀',
      '/"quoted"\\',
      `/${'x'.repeat(50_000)}`,
      '/ü'.repeat(200),
      '/after',
    ];
    paths.forEach((p, i) => {
      access.write(line(`id-${i}`, p));
    });
    expect(lines.map((l) => l.path)).toEqual(paths);
    access.write(line('id-last', '/last'));
    // One line, short of a batch: it waits for the flush.
    expect(lines).toHaveLength(paths.length);
    access.flush();
    expect(lines.map((l) => l.id)).toEqual([...paths.map((_, i) => `id-${i}`), 'id-last']);
    expect(lines.at(-1)).toMatchObject({ level: 'info', msg: 'request', path: '/last', upstreamMs: 1.25 });
  });

  it('holds a short batch until the chunk is full or flushed', () => {
    const { log, lines } = captureLog();
    const access = createAccessLog(log, { formatBatch: 2, chunkBytes: 64 * 1024 });
    for (let i = 0; i < 4; i++) access.write(line(`id-${i}`, '/p'));
    expect(lines).toHaveLength(0);
    access.flush();
    expect(lines.map((l) => l.id)).toEqual(['id-0', 'id-1', 'id-2', 'id-3']);
  });
});
