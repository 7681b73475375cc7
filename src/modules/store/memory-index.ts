/**
 * name → ids of the live entries carrying it (a tag, or the URL key of
 * variants). The memory store removes an id when its entry leaves the cache
 * for any reason, so a set never holds ids of evicted or expired entries and
 * empty sets are dropped. A name with one id (a tag on one entry, a key with
 * one variant) holds the id itself, not a Set: a Set costs more than the
 * entry's own strings.
 */
export class MembershipIndex {
  readonly #sets = new Map<string, string | Set<string>>();
  #memberships = 0;

  add(name: string, id: string): void {
    const ids = this.#sets.get(name);
    if (ids === undefined) {
      this.#sets.set(name, id);
    } else if (typeof ids === 'string') {
      if (ids === id) return;
      this.#sets.set(name, new Set([ids, id]));
    } else {
      if (ids.has(id)) return;
      ids.add(id);
    }
    this.#memberships++;
  }

  remove(name: string, id: string): void {
    const ids = this.#sets.get(name);
    if (ids === undefined) return;
    if (typeof ids === 'string') {
      if (ids !== id) return;
      this.#sets.delete(name);
    } else {
      if (!ids.delete(id)) return;
      if (ids.size === 0) this.#sets.delete(name);
    }
    this.#memberships--;
  }

  /** A copy: callers delete entries while walking it, which edits the live set. */
  ids(name: string): string[] {
    const ids = this.#sets.get(name);
    if (ids === undefined) return [];
    return typeof ids === 'string' ? [ids] : [...ids];
  }

  /** Number of names with at least one id. */
  get names(): number {
    return this.#sets.size;
  }

  /** Number of (name, id) pairs. */
  get memberships(): number {
    return this.#memberships;
  }
}
