import { TagcacheError } from './errors.js';

/** Readers for settings from the environment: each names the setting in the one-line error it stops start-up with. */
export type Env = Readonly<Record<string, string | undefined>>;

const MiB = 1024 * 1024;

/** Throws the one-line start-up error every setting uses. */
export function fail(name: string, value: string, expected: string): never {
  throw new TagcacheError('TC_CONFIG_INVALID', `${name}=${JSON.stringify(value)}: expected ${expected}`);
}

export function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** A value with no default: unset or empty is undefined. */
export function readOptionalString(env: Env, name: string): string | undefined {
  return raw(env, name);
}

export function readString(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

export function readPattern(
  env: Env,
  name: string,
  fallback: string,
  pattern: RegExp,
  expected: string,
): string {
  const value = env[name];
  if (value === undefined) return fallback;
  if (!pattern.test(value)) fail(name, value, expected);
  return value;
}

export function readInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) fail(name, value, `a whole number from ${min} to ${max}`);
  const n = Number(value);
  if (n < min || n > max) fail(name, value, `a whole number from ${min} to ${max}`);
  return n;
}

export function readPort(env: Env, name: string, fallback: number): number {
  return readInt(env, name, fallback, 0, 65_535);
}

export function readBool(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const v = value.toLowerCase();
  if (['1', 'true', 'on', 'yes'].includes(v)) return true;
  if (['0', 'false', 'off', 'no'].includes(v)) return false;
  return fail(name, value, 'on or off (also true/false, yes/no, 1/0)');
}

export function readChoice<T extends string>(env: Env, name: string, fallback: T, choices: readonly T[]): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const v = value.toLowerCase() as T;
  if (!choices.includes(v)) fail(name, value, `one of ${choices.join(', ')}`);
  return v;
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: MiB,
  mb: 1000 ** 2,
  mib: MiB,
  g: 1024 * MiB,
  gb: 1000 ** 3,
  gib: 1024 * MiB,
};

/** Sizes accept a plain byte count or a unit: 268435456, 256MiB, 64mb, 1g. */
export function readBytes(env: Env, name: string, fallback: number, min: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const expected = `a byte size of at least ${min}, such as 268435456 or 256MiB`;
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value);
  const unit = m ? BYTE_UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined) return fail(name, value, expected);
  const n = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n) || n < min) fail(name, value, expected);
  return n;
}
