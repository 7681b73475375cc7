import { type Attributes, type Span, SpanKind } from '@opentelemetry/api';
import type { InvalidationTarget, Store, StoredEntry } from '../store/types.js';
import { endWhen, failed, type SpanKit } from './otel-kit.js';

/**
 * The store with a span around each cache operation: get, put, delete and
 * invalidate, with the store's kind. Entry ids, tags and keys are never
 * attributes (they are URLs and publishers' names); counts are.
 */
export function traceStore(store: Store, kit: SpanKit): Store {
  const remote = store.kind !== 'memory';
  const base: Attributes = { 'tagcache.store.kind': store.kind };
  if (remote) base['db.system.name'] = 'redis';
  const kind = remote ? SpanKind.CLIENT : SpanKind.INTERNAL;
  const open = (operation: string, extra?: Attributes) =>
    kit.start(`tagcache.store.${operation}`, kind, {
      ...base,
      'db.operation.name': operation,
      ...extra,
    });

  return {
    kind: store.kind,
    get(id) {
      if (!kit.sampled()) return store.get(id);
      const span = open('get');
      let found: StoredEntry | undefined | Promise<StoredEntry | undefined>;
      try {
        found = store.get(id);
      } catch (err) {
        failed(span, err);
        span.end();
        throw err;
      }
      if (found instanceof Promise) return endWhen(span, found, (entry) => hit(span, entry));
      // Answered at once: the memory store, or the local tier in front of Redis.
      if (remote) span.setAttribute('tagcache.store.tier', 'local');
      hit(span, found);
      span.end();
      return found;
    },
    put(entry, ttlMs) {
      if (!kit.sampled()) return store.put(entry, ttlMs);
      const span = open('put', {
        'tagcache.store.bytes': entry.body.length,
        'tagcache.tags': entry.tags.length,
      });
      return endWhen(
        span,
        kit.within(span, () => store.put(entry, ttlMs)),
      );
    },
    delete(id) {
      if (!kit.sampled()) return store.delete(id);
      const span = open('delete');
      return endWhen(
        span,
        kit.within(span, () => store.delete(id)),
      );
    },
    invalidate(target, mode) {
      if (!kit.sampled()) return store.invalidate(target, mode);
      const span = open('invalidate', { ...targetAttributes(target), 'tagcache.invalidation.mode': mode });
      return endWhen(
        span,
        kit.within(span, () => store.invalidate(target, mode)),
        (result) => span.setAttribute('tagcache.invalidation.entries', result.entries),
      );
    },
    onInvalidation: (listener) => store.onInvalidation(listener),
    // History and look-ups serve the admin API, not a request: not traced.
    recordInvalidation: (record) => store.recordInvalidation(record),
    recentInvalidations: (limit) => store.recentInvalidations(limit),
    inspectKey: (key) => store.inspectKey(key),
    inspectTag: (tag, limit) => store.inspectTag(tag, limit),
    lease: (key, ms, options) => store.lease(key, ms, options),
    release: (key, outcome, hitForMissMs) => store.release(key, outcome, hitForMissMs),
    onFilled: (key, listener) => store.onFilled(key, listener),
    ping: () => store.ping(),
    stats: () => store.stats(),
    close: () => store.close(),
  };
}

function hit(span: Span, entry: StoredEntry | undefined): void {
  span.setAttribute('tagcache.store.found', entry !== undefined);
}

function targetAttributes(target: InvalidationTarget): Attributes {
  if (target.kind === 'tags')
    return {
      'tagcache.invalidation.kind': 'tags',
      'tagcache.invalidation.items': target.tags.length,
      'tagcache.invalidation.host_scoped': target.sites !== undefined,
    };
  if (target.kind === 'prefixes')
    return {
      'tagcache.invalidation.kind': 'prefixes',
      'tagcache.invalidation.items': target.prefixes.length,
    };
  if (target.kind === 'keys')
    return { 'tagcache.invalidation.kind': 'keys', 'tagcache.invalidation.items': target.keys.length };
  return { 'tagcache.invalidation.kind': 'all' };
}
