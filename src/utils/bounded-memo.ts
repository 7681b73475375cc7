/**
 * A string-keyed memo of at most `max` results, emptied whole when full: for
 * values that repeat on nearly every request (hosts, labels, header values),
 * where a client or backend can also send endless distinct ones. `compute`
 * may take an input beside the key, for a key that stands for it (made of
 * it) but is not all compute needs to read.
 */
export function boundedMemo<V, I = void>(
  max: number,
  compute: (key: string, input: I) => V,
): (key: string, input: I) => V {
  const known = new Map<string, V>();
  return (key, input) => {
    let value = known.get(key);
    if (value === undefined) {
      value = compute(key, input);
      if (known.size >= max) known.clear();
      known.set(key, value);
    }
    return value;
  };
}
