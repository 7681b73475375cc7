import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRefusalLog } from '../../src/modules/cache/refusals.js';

describe('the refusal log', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps the latest refusal of a key: its time when refused again alike, the new reason when not', () => {
    vi.useFakeTimers();
    const log = createRefusalLog();
    vi.setSystemTime(1_000);
    log.note('k', 'no-store', 200);
    vi.setSystemTime(2_000);
    log.note('k', 'no-store', 200);
    expect(log.get('k')).toEqual({
      reason: 'no-store',
      explanation: 'the response says no-store',
      status: 200,
      at: 2_000,
    });
    vi.setSystemTime(3_000);
    log.note('k', 'no-store', 404);
    expect(log.get('k')).toMatchObject({ reason: 'no-store', status: 404, at: 3_000 });
    log.note('k', 'private', 404);
    expect(log.get('k')).toMatchObject({ reason: 'private', explanation: 'the response says private' });
    log.forget('k');
    expect(log.get('k')).toBeUndefined();
  });

  it('forgets the least recently refused key first, a repeat counting as recent', () => {
    // Room for two keys of one character (160 bytes of overhead and 2 per character each).
    const log = createRefusalLog(2 * 162);
    log.note('a', 'no-store', 200);
    log.note('b', 'no-store', 200);
    log.note('a', 'no-store', 200);
    log.note('c', 'no-store', 200);
    expect(log.get('a')).toBeDefined();
    expect(log.get('b')).toBeUndefined();
    expect(log.get('c')).toBeDefined();
  });
});
