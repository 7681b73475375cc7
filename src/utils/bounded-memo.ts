/**
 * A string-keyed memo of at most `max` results, emptied whole when full: for
 * values that repeat on nearly every request (hosts, labels, header values),
 * where a client or backend can also send endless distinct ones.
 */
export function boundedMemo<V>(max: number, compute: (key: string) => V): (key: string) => V {
  const known = new Map<string, V>();
  return (key) => {
    let value = known.get(key);
    if (value === undefined) {
      value = compute(key);
      if (known.size >= max) known.clear();
      known.set(key, value);
    }
    return value;
  };
}
