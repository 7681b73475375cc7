import { headerValue } from '../../utils/headers.js';
import type { EntryForms, StoredEntry } from '../store/types.js';
import type { Coding, EncodingPreference } from './encoding.js';
import { formEtag } from './representation.js';

type Headers = Record<string, string | string[]>;

/** One coding's view of an entry: made on first use and kept for as long as the entry lives. */
export interface Representation {
  readonly coding: Coding;
  readonly headers: Readonly<Headers>;
  readonly body: Buffer;
}

const views = new WeakMap<StoredEntry, Partial<Record<Coding, Representation>>>();

/**
 * The form of an entry this client gets: the first coding of its preference
 * the entry holds, identity when none. undefined means the entry as stored
 * (no forms: one representation for everyone). Never compresses: a pending
 * form is made before (lazy-forms.ts); until then it is not held.
 */
export function representationFor(entry: StoredEntry, pref: EncodingPreference): Representation | undefined {
  const forms = entry.forms;
  if (forms === undefined) return undefined;
  let coding: Coding = 'identity';
  for (const c of pref.order) {
    if (c === 'identity' || forms[c] !== undefined) {
      coding = c;
      break;
    }
  }
  let known = views.get(entry);
  if (known === undefined) {
    known = {};
    views.set(entry, known);
  }
  let view = known[coding];
  if (view === undefined) {
    view = makeView(entry, forms, coding);
    known[coding] = view;
  }
  return view;
}

function makeView(entry: StoredEntry, forms: EntryForms, coding: Coding): Representation {
  const body = coding === 'identity' ? entry.body : (forms[coding] ?? entry.body);
  const etag = headerValue(entry.headers, 'etag');
  const tagged = etag === undefined ? undefined : formEtag(etag, coding, forms.source);
  if (coding === 'identity' && tagged === etag) return { coding, headers: entry.headers, body };
  const headers: Headers = { ...entry.headers };
  if (coding !== 'identity') {
    headers['content-encoding'] = coding;
    headers['content-length'] = String(body.length);
  }
  if (tagged !== undefined) headers.etag = tagged;
  return { coding, headers, body };
}
