import { afterEach, describe, expect, it } from 'vitest';
import type { FillOutcome, Store } from '../../src/modules/store/types.js';
import { makeEntry } from './entries.js';

/**
 * Fill leases (src/modules/store/fill-lease.ts), run against every store.
 * With openPeer (Redis), the holder and the waiter are two instances sharing
 * the store, as two tagcache processes are; without it, one store plays both.
 */
export function leaseContract(
  name: string,
  open: () => Promise<Store>,
  openPeer: ((first: Store) => Promise<Store>) | undefined,
): void {
  describe(`${name}: fill leases`, () => {
    const opened: Store[] = [];
    const track = (store: Store) => {
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });
    const pair = async () => {
      const holder = track(await open());
      const waiter = openPeer === undefined ? holder : track(await openPeer(holder));
      return { holder, waiter };
    };
    let n = 0;
    /** Any string is a key: braces, unicode and length must not matter (one slot per lease on a Cluster). */
    const keyOf = (label: string) => `https://shop.example/{${label}}/${++n}/grüße?${'q'.repeat(200)}`;

    /** A Redis store subscribes in the background: leases and releases until the first notice is heard. */
    const listening = async (holder: Store, waiter: Store) => {
      const heard: FillOutcome[] = [];
      await expect
        .poll(
          async () => {
            const key = keyOf('warm-up');
            const stop = waiter.onFilled(key, (outcome) => heard.push(outcome));
            expect(await holder.lease(key, 5_000)).toBe('granted');
            expect(await waiter.lease(key, 5_000)).toBe('held');
            await holder.release(key, 'abandoned', 0);
            await new Promise((r) => setTimeout(r, 50));
            stop();
            return heard.length;
          },
          { timeout: 10_000, interval: 50 },
        )
        .toBeGreaterThan(0);
    };

    it('grants a key to one caller; the others find it held until it is released', async () => {
      const { holder, waiter } = await pair();
      const key = keyOf('one');
      expect(await holder.lease(key, 5_000)).toBe('granted');
      expect(await waiter.lease(key, 5_000)).toBe('held');
      expect(await holder.lease(keyOf('other'), 5_000)).toBe('granted');
      // Only the holder's release ends it.
      if (waiter !== holder) {
        await waiter.release(key, 'abandoned', 0);
        expect(await waiter.lease(key, 5_000)).toBe('held');
      }
      await holder.release(key, 'abandoned', 0);
      expect(await waiter.lease(key, 5_000)).toBe('granted');
    });

    it('tells waiters the entry is stored once it can be read, and others that it was abandoned', async () => {
      const { holder, waiter } = await pair();
      await listening(holder, waiter);
      const key = keyOf('stored');
      const seen: { outcome: FillOutcome; found: boolean }[] = [];
      const stopSeeing = waiter.onFilled(key, (outcome) => {
        void Promise.resolve(waiter.get(key)).then((entry) =>
          seen.push({ outcome, found: entry !== undefined }),
        );
      });
      expect(await holder.lease(key, 5_000)).toBe('granted');
      expect(await waiter.lease(key, 5_000)).toBe('held');
      // The put is not awaited: release('stored') itself waits for it to land.
      void holder.put(makeEntry(key, { tags: ['leased'] }), 60_000);
      await holder.release(key, 'stored', 0);
      await expect.poll(() => seen, { timeout: 10_000 }).toEqual([{ outcome: 'stored', found: true }]);
      stopSeeing();
      // For a moment the lease says "filled": a late comer reads the entry rather than fetch it again,
      // and one that found it purged since takes the lease over the mark.
      expect(await waiter.lease(key, 5_000)).toBe('filled');
      expect(await holder.lease(key, 5_000)).toBe('filled');
      expect(await waiter.lease(key, 5_000, { retake: true })).toBe('granted');
      expect(await holder.lease(key, 5_000, { retake: true })).toBe('held');
      await waiter.release(key, 'abandoned', 0);
      const later = keyOf('mark-expires');
      expect(await holder.lease(later, 5_000)).toBe('granted');
      await holder.release(later, 'stored', 0);
      await expect.poll(() => waiter.lease(later, 5_000), { timeout: 10_000, interval: 100 }).toBe('granted');

      const other = keyOf('abandoned');
      const heard: FillOutcome[] = [];
      const stop = waiter.onFilled(other, (outcome) => heard.push(outcome));
      expect(await holder.lease(other, 5_000)).toBe('granted');
      expect(await waiter.lease(other, 5_000)).toBe('held');
      await holder.release(other, 'abandoned', 0);
      await expect.poll(() => heard, { timeout: 10_000 }).toEqual(['abandoned']);
      stop();
      expect(seen).toHaveLength(1);
    });

    it('marks a key whose fill could not be stored uncacheable for everyone, for the hit-for-miss window', async () => {
      const { holder, waiter } = await pair();
      await listening(holder, waiter);
      const key = keyOf('uncacheable');
      const heard: FillOutcome[] = [];
      waiter.onFilled(key, (outcome) => heard.push(outcome));
      expect(await holder.lease(key, 5_000)).toBe('granted');
      expect(await waiter.lease(key, 5_000)).toBe('held');
      await holder.release(key, 'not-storable', 700);
      await expect.poll(() => heard, { timeout: 10_000 }).toEqual(['not-storable']);
      expect(await waiter.lease(key, 5_000)).toBe('uncacheable');
      expect(await holder.lease(key, 5_000)).toBe('uncacheable');
      await expect.poll(() => waiter.lease(key, 5_000), { timeout: 10_000, interval: 100 }).toBe('granted');
      // Without a window, a not-storable release frees the key at once.
      const next = keyOf('no-window');
      expect(await holder.lease(next, 5_000)).toBe('granted');
      await holder.release(next, 'not-storable', 0);
      expect(await waiter.lease(next, 5_000)).toBe('granted');
    });

    it('ends a lease nobody releases once its time is up', async () => {
      const holder = track(await open());
      const key = keyOf('expiry');
      expect(await holder.lease(key, 300)).toBe('granted');
      // A Redis holder renews its lease while it lives: closing it is dying mid-fetch.
      const waiter = openPeer === undefined ? holder : track(await openPeer(holder));
      if (waiter !== holder) await holder.close();
      await expect.poll(() => waiter.lease(key, 5_000), { timeout: 10_000, interval: 50 }).toBe('granted');
    });

    it.skipIf(openPeer === undefined)("keeps a live holder's lease past its time (renewed)", async () => {
      const { holder, waiter } = await pair();
      const key = keyOf('renewed');
      expect(await holder.lease(key, 1_000)).toBe('granted');
      await new Promise((r) => setTimeout(r, 2_500));
      expect(await waiter.lease(key, 1_000)).toBe('held');
      await holder.release(key, 'abandoned', 0);
      expect(await waiter.lease(key, 1_000)).toBe('granted');
    });
  });
}
