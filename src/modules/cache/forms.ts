import type { EntryForms } from '../store/types.js';
import { brotliBody, compressSync, gzipBody, SYNC_COMPRESS_BYTES } from './compress.js';
import type { Coding } from './encoding.js';

/** What making a form needs to know: the size bound, and whom to tell. */
export interface FormSettings {
  /** MAX_OBJECT_BYTES: a decoded body may not grow past it. */
  readonly maxBytes: number;
  /** Told of each encoded form made (tagcache_compressed_forms_total). */
  readonly onForm?: (coding: 'gzip' | 'br') => void;
}

/** Both codings, br first: what a compressible identity body is marked with at store time. */
export const LAZY: readonly ('gzip' | 'br')[] = ['br', 'gzip'];

export function keepIfWorth(forms: EntryForms, identity: Buffer, room: number): EntryForms {
  const out: { gzip?: Buffer; br?: Buffer } = {};
  for (const c of LAZY) {
    const form = forms[c];
    if (form !== undefined && form.length < identity.length && form.length <= room) {
      out[c] = form;
      room -= form.length;
    }
  }
  return out;
}

/**
 * The forms an entry is written with. A small body (up to
 * SYNC_COMPRESS_BYTES) gets only the form its filling client prefers; the
 * others stay pending, made on the event loop by the first hit that asks
 * (lazy-forms.ts). A larger one gets every form now, in the thread pool: a
 * hit cannot wait for one, and would answer in another coding until it is made.
 */
export function fill(
  identity: Buffer,
  forms: EntryForms,
  want: Coding,
  settings: FormSettings,
): EntryForms | Promise<EntryForms> {
  if (identity.length <= SYNC_COMPRESS_BYTES) return withForm(identity, forms, want, settings);
  const pending = forms.pending ?? [];
  return Promise.all(pending.map((c) => makeForm(identity, c, settings))).then((made) =>
    made.reduce<EntryForms>(
      (held, form, i) => addForm(identity, held, pending[i] ?? 'br', form, settings.maxBytes),
      forms,
    ),
  );
}

/**
 * The forms with `coding` made when it is pending, else as they are (see
 * addForm). Sync for small bodies (see SYNC_COMPRESS_BYTES), in the thread
 * pool for larger ones.
 */
export function withForm(
  identity: Buffer,
  forms: EntryForms,
  coding: Coding,
  settings: FormSettings,
): EntryForms | Promise<EntryForms> {
  if (coding === 'identity' || forms.pending?.includes(coding) !== true) return forms;
  const made = makeForm(identity, coding, settings);
  const { maxBytes } = settings;
  return made instanceof Promise
    ? made.then((form) => addForm(identity, forms, coding, form, maxBytes))
    : addForm(identity, forms, coding, made, maxBytes);
}

/** One coding of an identity body: on the event loop when small, in the thread pool otherwise. */
export function makeForm(
  identity: Buffer,
  coding: 'gzip' | 'br',
  settings: Pick<FormSettings, 'onForm'>,
): Buffer | Promise<Buffer> {
  settings.onForm?.(coding);
  if (identity.length <= SYNC_COMPRESS_BYTES) return compressSync(identity, coding);
  return coding === 'br' ? brotliBody(identity) : gzipBody(identity);
}

/**
 * The forms with a newly made one: kept when smaller than the identity body
 * and when the entry with all its forms stays within maxBytes (the first
 * coding asked for gets the room); either way no longer pending, so no body
 * is compressed twice in one coding.
 */
export function addForm(
  identity: Buffer,
  forms: EntryForms,
  coding: 'gzip' | 'br',
  form: Buffer,
  maxBytes: number,
): EntryForms {
  const { pending, ...rest } = forms;
  const left = (pending ?? []).filter((c) => c !== coding);
  const room = maxBytes - identity.length - (forms.gzip?.length ?? 0) - (forms.br?.length ?? 0);
  return {
    ...rest,
    ...(form.length < identity.length && form.length <= room ? { [coding]: form } : {}),
    ...(left.length > 0 ? { pending: left } : {}),
  };
}
