/**
 * name → ids of the live entries carrying it (a tag, or a URL key). The memory
 * store removes an id when its entry leaves the cache for any reason, so a
 * set never holds ids of evicted or expired entries and empty sets are dropped.
 */
export class MembershipIndex {
  readonly #sets = new Map<string, Set<string>>();
  #memberships = 0;

  add(name: string, id: string): void {
    let ids = this.#sets.get(name);
    if (ids === undefined) {
      ids = new Set();
      this.#sets.set(name, ids);
    }
    if (!ids.has(id)) {
      ids.add(id);
      this.#memberships++;
    }
  }

  remove(name: string, id: string): void {
    const ids = this.#sets.get(name);
    if (ids === undefined || !ids.delete(id)) return;
    this.#memberships--;
    if (ids.size === 0) this.#sets.delete(name);
  }

  /** A copy: callers delete entries while walking it, which edits the live set. */
  ids(name: string): string[] {
    const ids = this.#sets.get(name);
    return ids === undefined ? [] : [...ids];
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
