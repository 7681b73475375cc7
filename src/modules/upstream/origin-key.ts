/**
 * An origin URL's `origin` string, remembered per URL object: URL#origin is
 * built afresh on every read, and the same few objects (settings, route
 * table) are asked on every backend request.
 */
const keys = new WeakMap<URL, string>();

export function originKey(url: URL): string {
  let key = keys.get(url);
  if (key === undefined) {
    key = url.origin;
    keys.set(url, key);
  }
  return key;
}
