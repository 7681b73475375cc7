import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, posix, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ROOT } from '../support/proxy.js';

/**
 * Readers for the packaging files (Dockerfile, .dockerignore, docker-compose.yml,
 * docker/prometheus.yml, src/utils/config.ts), so the consistency tests can
 * compare what each one names with what exists.
 */

export const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');

export function readText(path: string): string {
  return readFileSync(isAbsolute(path) ? path : join(ROOT, path), 'utf8');
}

/** YAML 1.1 merge keys (`<<: *anchor`) are part of what Compose reads. */
export function readYaml(path: string): unknown {
  return parseYaml(readText(path), { merge: true });
}

// --- Dockerfile --------------------------------------------------------------

export interface DockerInstruction {
  readonly keyword: string;
  /** The arguments after the keyword, continuation lines joined. */
  readonly args: string;
  /** The build stage (FROM … AS name, or its index) the instruction belongs to. */
  readonly stage: string;
}

export interface Dockerfile {
  readonly instructions: readonly DockerInstruction[];
  readonly stages: readonly string[];
  /** ENV of the last stage, the one the image runs. */
  readonly env: Readonly<Record<string, string>>;
  readonly expose: readonly number[];
  of(keyword: string): DockerInstruction[];
}

export function readDockerfile(path: string): Dockerfile {
  const logical: string[] = [];
  let pending = '';
  for (const line of readText(path).split('\n')) {
    const trimmed = line.trim();
    if (pending === '' && (trimmed === '' || trimmed.startsWith('#'))) continue;
    if (pending !== '' && trimmed.startsWith('#')) continue; // comments inside a continued instruction
    if (trimmed.endsWith('\\')) {
      pending += `${trimmed.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + trimmed);
    pending = '';
  }
  const instructions: DockerInstruction[] = [];
  const stages: string[] = [];
  for (const text of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(text);
    if (!m) continue;
    const keyword = (m[1] ?? '').toUpperCase();
    const args = (m[2] ?? '').trim();
    if (keyword === 'FROM') stages.push(/\sAS\s+(\S+)$/i.exec(args)?.[1] ?? String(stages.length));
    instructions.push({ keyword, args, stage: stages.at(-1) ?? '' });
  }
  const last = stages.at(-1) ?? '';
  const env: Record<string, string> = {};
  for (const { args } of instructions.filter((i) => i.keyword === 'ENV' && i.stage === last)) {
    Object.assign(env, parseEnvArgs(args));
  }
  const expose = instructions
    .filter((i) => i.keyword === 'EXPOSE' && i.stage === last)
    .flatMap((i) => i.args.split(/\s+/))
    .map((p) => Number(p.split('/')[0]));
  return {
    instructions,
    stages,
    env,
    expose,
    of: (keyword) => instructions.filter((i) => i.keyword === keyword),
  };
}

/** `ENV A=1 B="two words"` or the legacy `ENV A 1`. */
function parseEnvArgs(args: string): Record<string, string> {
  const first = /^(\S+)\s+(.*)$/.exec(args);
  if (first && !(first[1] ?? '').includes('=')) return { [first[1] ?? '']: first[2] ?? '' };
  const env: Record<string, string> = {};
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const raw = m[2] ?? '';
    env[m[1] ?? ''] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
  }
  return env;
}

/** COPY/ADD sources and options: `COPY [--from=x] [--chown=…] src… dest`, shell or JSON form. */
export function copySources(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = args.startsWith('[')
    ? (JSON.parse(args) as string[])
    : args.split(/\s+/).filter((w) => w !== '');
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
}

/** The exec-form array of CMD / ENTRYPOINT / HEALTHCHECK … CMD. */
export function execForm(args: string): string[] {
  const json = args.slice(args.indexOf('['));
  return JSON.parse(json) as string[];
}

// --- .dockerignore -----------------------------------------------------------

/** Docker's rules: the last pattern that matches a path (or one of its parent directories) decides. */
export function createDockerignore(contextDir: string): (path: string) => boolean {
  const file = join(contextDir, '.dockerignore');
  const rules = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#'))
        .map((l) => {
          const negate = l.startsWith('!');
          const pattern = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''));
          return { negate, re: globToRegExp(pattern) };
        })
    : [];
  return (path) => {
    const parts = path.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const { negate, re } of rules) if (candidates.some((c) => re.test(c))) excluded = !negate;
    return excluded;
  };
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] ?? '';
    if (ch === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Every file under a path (the path itself when it is a file), relative to root, posix separators. */
export function filesUnder(root: string, path: string): string[] {
  const abs = join(root, path);
  if (!statSync(abs).isDirectory()) return [relative(root, abs).split('\\').join('/')];
  return readdirSync(abs).flatMap((name) => filesUnder(root, join(path, name)));
}

// --- docker-compose.yml ------------------------------------------------------

export interface ComposeService {
  readonly image?: string;
  readonly build?: string | { context?: string; dockerfile?: string };
  readonly command?: string | string[];
  readonly environment?: Record<string, string | number | boolean | null> | string[];
  readonly ports?: (string | number | { target: number; published?: string | number })[];
  readonly volumes?: (string | { type?: string; source?: string; target: string })[];
  readonly depends_on?: string[] | Record<string, { condition: string }>;
  readonly healthcheck?: { test?: string | string[]; disable?: boolean };
  readonly profiles?: string[];
}

export interface ComposeFile {
  readonly services: Record<string, ComposeService>;
}

export function readCompose(): ComposeFile {
  return readYaml(COMPOSE_FILE) as ComposeFile;
}

/**
 * Compose's variable interpolation as `docker compose up` does it in a shell
 * that sets none of the variables: `${X:-default}`, `${X-default}`, `$$`.
 * Returns the value and the names that had no default (they would be empty).
 */
export function interpolate(value: string): { value: string; undefinedNames: string[] } {
  const undefinedNames: string[] = [];
  const out = value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (all, braced?: string, op?: string, word?: string, bare?: string) => {
      if (all === '$$') return '$';
      if (op === ':-' || op === '-') return word ?? '';
      undefinedNames.push(braced ?? bare ?? all);
      return '';
    },
  );
  return { value: out, undefinedNames };
}

/** A service's environment as a map, interpolated. */
export function serviceEnv(service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  const entries: [string, unknown][] = Array.isArray(service.environment)
    ? service.environment.map((item) => {
        const i = item.indexOf('=');
        return i < 0 ? [item, ''] : [item.slice(0, i), item.slice(i + 1)];
      })
    : Object.entries(service.environment ?? {});
  for (const [name, raw] of entries) env[name] = interpolate(raw === null ? '' : String(raw)).value;
  return env;
}

export function buildOf(service: ComposeService): { context: string; dockerfile: string } | undefined {
  if (service.build === undefined) return undefined;
  const build = typeof service.build === 'string' ? { context: service.build } : service.build;
  const context = resolve(ROOT, build.context ?? '.');
  return { context, dockerfile: resolve(context, build.dockerfile ?? 'Dockerfile') };
}

/** Bind mounts with a host path (named volumes skipped): host path resolved, container target. */
export function bindMounts(service: ComposeService): { source: string; target: string }[] {
  return (service.volumes ?? []).flatMap((v) => {
    const [source, target] =
      typeof v === 'string' ? (v.split(':') as [string, string?]) : [v.source ?? '', v.target];
    if (target === undefined || !/^[./~]/.test(source)) return [];
    return [{ source: resolve(ROOT, source), target }];
  });
}

/** Container ports a service publishes on the host. */
export function publishedTargets(service: ComposeService): number[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'number') return p;
    if (typeof p === 'object') return p.target;
    return Number(p.split(':').at(-1)?.split('/')[0]);
  });
}

/** Host ports a service publishes ("127.0.0.1:8080:8080" → 8080). */
export function publishedHostPorts(service: ComposeService): number[] {
  return (service.ports ?? []).flatMap((p) => {
    if (typeof p === 'number') return [];
    if (typeof p === 'object') return p.published === undefined ? [] : [Number(p.published)];
    const parts = p.split(':');
    return parts.length < 2 ? [] : [Number(parts.at(-2))];
  });
}

/** A "## Title" section of the README, up to the next "## ". */
export function readmeSection(title: string): string {
  const readme = readText('README.md');
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README.md has no "## ${title}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

export function commandOf(service: ComposeService): string[] | undefined {
  const c = service.command;
  return c === undefined ? undefined : Array.isArray(c) ? c : c.split(/\s+/);
}

// --- src/utils/config.ts -----------------------------------------------------

/**
 * The settings loadConfig reads, from its source: every `readX(env, 'NAME'`
 * call. Parsing the source rather than keeping a list here means a setting
 * added to config.ts is known to these tests at once.
 */
export function configSettingNames(): string[] {
  // The tracing settings (the OpenTelemetry SDK's names) are read in a file of their own.
  const source = readText('src/utils/config.ts') + readText('src/utils/tracing-config.ts');
  const names = [...source.matchAll(/\bread[A-Za-z]*\(\s*env,\s*'([A-Z][A-Z0-9_]*)'/g)].map(
    (m) => m[1] ?? '',
  );
  return [...new Set(names)].sort();
}

/** The names in the first column of the README's settings table. */
export function readmeSettingNames(): string[] {
  const names = readmeSection('Settings')
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) =>
      [...(line.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1] ?? ''),
    );
  return [...new Set(names)].sort();
}

/** The environment names a source file reads as process.env.NAME. */
export function processEnvNames(path: string): string[] {
  return [
    ...new Set([...readText(path).matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1] ?? '')),
  ];
}
