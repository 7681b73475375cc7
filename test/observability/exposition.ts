import { fetchRaw } from '../support/http.js';

/** One sample line of the Prometheus text format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A parsed exposition: its samples and the `# TYPE` / `# HELP` of each family. */
export interface Exposition {
  readonly text: string;
  readonly samples: readonly Sample[];
  readonly types: ReadonlyMap<string, string>;
  readonly helps: ReadonlyMap<string, string>;
  /** Sum of the samples of `name` whose labels include every pair of `match`; 0 when none. */
  value(name: string, match?: Readonly<Record<string, string>>): number;
  /** The distinct values a label takes on a metric's samples. */
  labelValues(name: string, label: string): string[];
  /** Whether any sample of `name` exists (a family declared with no children has none). */
  has(name: string): boolean;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const COMMENT = /^# (TYPE|HELP) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/;

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(raw: string): number {
  if (raw === '+Inf') return Number.POSITIVE_INFINITY;
  if (raw === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(raw);
}

/** Parses text format 0.0.4; a line that is neither a comment nor a sample throws, naming it. */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const c = COMMENT.exec(line);
      if (c?.[1] === 'TYPE') types.set(c[2] as string, c[3] as string);
      else if (c?.[1] === 'HELP') helps.set(c[2] as string, unescapeLabel(c[3] as string));
      continue;
    }
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1] as string] = unescapeLabel(l[2] as string);
    samples.push({ name: m[1] as string, labels, value: parseValue(m[3] as string) });
  }
  const matching = (name: string, match: Readonly<Record<string, string>>) =>
    samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
  return {
    text,
    samples,
    types,
    helps,
    value: (name, match = {}) => matching(name, match).reduce((sum, s) => sum + s.value, 0),
    labelValues: (name, label) => [
      ...new Set(matching(name, {}).flatMap((s) => (s.labels[label] === undefined ? [] : [s.labels[label]]))),
    ],
    has: (name) => samples.some((s) => s.name === name),
  };
}

/** GET /metrics of an admin listener, parsed; throws unless it answers 200. */
export async function scrape(adminUrl: string): Promise<Exposition> {
  const res = await fetchRaw(`${adminUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${res.text().slice(0, 200)}`);
  return parseExposition(res.text());
}

/** What changed between two scrapes, read the same way as `Exposition.value`. */
export function delta(
  before: Exposition,
  after: Exposition,
  name: string,
  match: Readonly<Record<string, string>> = {},
): number {
  return after.value(name, match) - before.value(name, match);
}
