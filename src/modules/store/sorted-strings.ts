/** Most strings in one chunk: small enough that splicing one stays cheap, large enough to keep the chunk list short. */
const CHUNK = 512;

/**
 * A set of strings kept in code-unit order, for prefix walks: adding and
 * removing cost O(log n + CHUNK), listing what starts with a prefix
 * O(log n + matches). Strings live in sorted chunks (a flat array would
 * splice the whole cache on every write).
 */
export class SortedStrings {
  readonly #chunks: string[][] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(value: string): void {
    if (this.#chunks.length === 0) {
      this.#chunks.push([value]);
      this.#size = 1;
      return;
    }
    const c = this.#chunkFor(value);
    const chunk = this.#chunks[c] as string[];
    const i = lowerBound(chunk, value);
    if (chunk[i] === value) return;
    chunk.splice(i, 0, value);
    this.#size++;
    if (chunk.length > CHUNK * 2) this.#chunks.splice(c + 1, 0, chunk.splice(CHUNK));
  }

  delete(value: string): boolean {
    if (this.#chunks.length === 0) return false;
    const c = this.#chunkFor(value);
    const chunk = this.#chunks[c] as string[];
    const i = lowerBound(chunk, value);
    if (chunk[i] !== value) return false;
    chunk.splice(i, 1);
    this.#size--;
    if (chunk.length === 0) this.#chunks.splice(c, 1);
    return true;
  }

  /** Every string starting with prefix, in order; a copy, so callers may delete while walking it. */
  startingWith(prefix: string): string[] {
    const found: string[] = [];
    if (this.#chunks.length === 0) return found;
    const first = this.#chunkFor(prefix);
    for (let c = first; c < this.#chunks.length; c++) {
      const chunk = this.#chunks[c] as string[];
      for (let i = c === first ? lowerBound(chunk, prefix) : 0; i < chunk.length; i++) {
        const value = chunk[i] as string;
        if (!value.startsWith(prefix)) return found;
        found.push(value);
      }
    }
    return found;
  }

  clear(): void {
    this.#chunks.length = 0;
    this.#size = 0;
  }

  /** The last chunk whose first string is <= value (the first chunk when none is). */
  #chunkFor(value: string): number {
    let lo = 0;
    let hi = this.#chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (((this.#chunks[mid] as string[])[0] as string) <= value) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/** First index whose string is >= value. */
function lowerBound(sorted: readonly string[], value: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as string) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
