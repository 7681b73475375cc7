import { existsSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, posix, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../src/utils/config.js';
import { readBool, readBytes } from '../../src/utils/env.js';
import { type Origin, startOrigin } from '../support/origin.js';
import { closedPortUrl } from '../support/ports.js';
import { ROOT, type RunningProxy, startProxy } from '../support/proxy.js';
import {
  bindMounts,
  buildOf,
  type ComposeService,
  commandOf,
  configSettingNames,
  copySources,
  createDockerignore,
  execForm,
  filesUnder,
  interpolate,
  processEnvNames,
  publishedHostPorts,
  publishedTargets,
  readCompose,
  readDockerfile,
  readmeSection,
  readmeSettingNames,
  readText,
  readYaml,
  serviceEnv,
} from './files.js';
import { run } from './tools.js';

/**
 * The image, the compose stack and the Prometheus config name files, settings
 * and ports of each other and of the code. No Docker engine is needed to see
 * that they agree: these tests read the files and run loadConfig on them.
 */

const DOCKERFILE = 'docker/Dockerfile';
const compose = readCompose();
const services = Object.entries(compose.services);
const dockerfile = readDockerfile(DOCKERFILE);

/** Services that run tagcache itself: built from docker/Dockerfile, running its CMD (main.js). */
const tagcacheServices = services.filter(([, s]) => {
  const build = buildOf(s);
  const command = commandOf(s);
  return (
    build !== undefined &&
    relative(ROOT, build.dockerfile) === DOCKERFILE &&
    (command === undefined || command.some((word) => word.endsWith('dist/src/main.js')))
  );
});

/** What a tagcache container sees: the image's ENV, then the service's environment over it. */
const containerEnv = (service: ComposeService) => ({ ...dockerfile.env, ...serviceEnv(service) });

/** The dist/ file a `node dist/src/x.js` command runs must come from a src/x.ts. */
const sourceOfDist = (path: string) => join(ROOT, path.replace(/^dist\//, '').replace(/\.js$/, '.ts'));

describe('every file the Dockerfile and the compose file name exists', () => {
  it('the compose builds point at an existing context and Dockerfile', () => {
    const builds = services.flatMap(([name, s]) => {
      const build = buildOf(s);
      return build ? [{ name, ...build }] : [];
    });
    expect(builds.map((b) => b.name)).toEqual(expect.arrayContaining(['tagcache', 'demo-backend']));
    for (const build of builds) {
      expect(statSync(build.context).isDirectory(), `${build.name}: build context ${build.context}`).toBe(
        true,
      );
      expect(existsSync(build.dockerfile), `${build.name}: dockerfile ${build.dockerfile}`).toBe(true);
    }
  });

  it('every COPY source exists in the build context and .dockerignore lets it in', () => {
    const ignored = createDockerignore(ROOT);
    const copies = dockerfile.of('COPY').map((i) => copySources(i.args));
    const fromContext = copies.filter((c) => c.from === undefined);
    expect(fromContext.length).toBeGreaterThan(0);
    for (const { sources } of fromContext) {
      for (const source of sources) {
        expect(existsSync(join(ROOT, source)), `COPY ${source}: no such file in the build context`).toBe(
          true,
        );
        const left = filesUnder(ROOT, source).filter(ignored);
        expect(left, `COPY ${source}: .dockerignore keeps these out of the build context`).toEqual([]);
      }
    }
    // COPY --from names a stage of this Dockerfile.
    for (const { from } of copies.filter((c) => c.from !== undefined)) {
      expect(dockerfile.stages, `COPY --from=${from}`).toContain(from);
    }
    expect(dockerfile.of('ADD'), 'ADD fetches and unpacks; COPY says what it does').toEqual([]);
  });

  it('.dockerignore keeps secrets, dependencies and builds of the host out of the context', () => {
    const ignored = createDockerignore(ROOT);
    for (const path of [
      'node_modules/yaml/package.json',
      'dist/src/main.js',
      '.git/HEAD',
      '.env',
      'test/x.ts',
    ]) {
      expect(ignored(path), path).toBe(true);
    }
  });

  it('the commands the image and the services run are built from existing sources', () => {
    const cmd = execForm(dockerfile.of('CMD').at(-1)?.args ?? '[]');
    expect(cmd).toEqual(['node', 'dist/src/main.js']);
    const entrypoint = execForm(dockerfile.of('ENTRYPOINT').at(-1)?.args ?? '[]');
    expect(entrypoint[0], 'PID 1 is tini, which forwards SIGTERM (see the Dockerfile)').toBe('/usr/bin/tini');
    const scripts = [cmd, ...services.map(([, s]) => (buildOf(s) ? (commandOf(s) ?? []) : []))]
      .flat()
      .filter((word) => /^dist\/.*\.js$/.test(word));
    expect(scripts).toContain('dist/src/demo-origin.js');
    for (const script of scripts) expect(existsSync(sourceOfDist(script)), script).toBe(true);
  });

  it('the package bin is the CLI, built from src/cli.ts with a node shebang', () => {
    const pkg = JSON.parse(readText('package.json')) as { bin: Record<string, string> };
    expect(pkg.bin.tagcache).toBe('dist/src/cli.js');
    expect(readText('src/cli.ts').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('every bind mount of every service (all profiles) has its host file', () => {
    const mounts = services.flatMap(([name, s]) => bindMounts(s).map((m) => ({ name, ...m })));
    expect(mounts.map((m) => m.target)).toEqual(
      expect.arrayContaining([
        '/etc/prometheus/prometheus.yml',
        '/etc/prometheus/alerts.yml',
        '/etc/grafana/provisioning',
        '/var/lib/grafana/dashboards',
      ]),
    );
    for (const { name, source, target } of mounts) {
      expect(existsSync(source), `${name}: ${relative(ROOT, source)} (mounted at ${target})`).toBe(true);
    }
  });

  it("Grafana's dashboard provider reads the directory compose mounts the dashboards on", () => {
    const grafana = compose.services.grafana;
    if (grafana === undefined) throw new Error('no grafana service in docker-compose.yml');
    const mount = bindMounts(grafana).find((m) => m.target === '/etc/grafana/provisioning');
    if (mount === undefined) throw new Error('grafana: no mount on /etc/grafana/provisioning');
    const providers = filesUnder(mount.source, 'dashboards')
      .filter((f) => /\.ya?ml$/.test(f))
      .flatMap(
        (f) =>
          (readYaml(join(mount.source, f)) as { providers?: { options?: { path?: string } }[] }).providers ??
          [],
      );
    const targets = bindMounts(grafana).map((m) => m.target);
    expect(providers.length).toBeGreaterThan(0);
    for (const p of providers) expect(targets, 'dashboard provider path').toContain(p.options?.path);
  });
});

describe("the image's HEALTHCHECK", () => {
  let origin: Origin;
  let proxy: RunningProxy;
  const healthcheck = execForm(dockerfile.of('HEALTHCHECK').at(-1)?.args ?? '[]');

  beforeAll(async () => {
    origin = await startOrigin();
    proxy = await startProxy({ UPSTREAM_URL: origin.url });
  });
  afterAll(async () => {
    await proxy?.close();
    await origin?.close();
  });

  it('asks /health/live on ADMIN_PORT with node alone', () => {
    expect(healthcheck[0]).toBe('node');
    expect(healthcheck.join(' ')).toContain('/health/live');
    expect(healthcheck.join(' ')).toContain('process.env.ADMIN_PORT');
  });

  it('passes against a live admin listener and fails when none answers', async () => {
    const [command = 'node', ...args] = healthcheck;
    const check = (adminPort: string) =>
      run(command === 'node' ? process.execPath : command, args, { env: { ADMIN_PORT: adminPort } });
    expect((await check(new URL(proxy.adminUrl).port)).code).toBe(0);
    expect((await check(new URL(await closedPortUrl()).port)).code).toBe(1);
  });
});

describe('the environment names used are ones tagcache reads', () => {
  const settings = configSettingNames();

  it('the setting names come out of src/utils/config.ts', () => {
    // Guards the parser: if config.ts changed shape, this list would shrink.
    expect(settings).toEqual(
      expect.arrayContaining(['UPSTREAM_URL', 'PORT', 'ADMIN_PORT', 'ADMIN_HOST', 'REDIS_URL', 'WORKERS']),
    );
    expect(settings.length).toBeGreaterThanOrEqual(25);
  });

  it('the README settings table lists exactly the settings config.ts reads', () => {
    const readme = readmeSettingNames();
    expect(
      settings.filter((n) => !readme.includes(n)),
      'settings missing from the README table',
    ).toEqual([]);
    expect(
      readme.filter((n) => !settings.includes(n)),
      'README settings config.ts does not read',
    ).toEqual([]);
  });

  it('every ENV of the image is a setting', () => {
    expect(Object.keys(dockerfile.env).filter((n) => !settings.includes(n))).toEqual([]);
    // Prometheus and the orchestrator's probes come from outside the container.
    expect(dockerfile.env).toMatchObject({
      HOST: '0.0.0.0',
      ADMIN_HOST: '0.0.0.0',
      PORT: '8080',
      ADMIN_PORT: '9145',
    });
    expect(dockerfile.expose).toEqual(expect.arrayContaining([8080, 9145]));
  });

  it('tagcache runs in the default stack and in the cluster profile', () => {
    expect(tagcacheServices.map(([name]) => name).sort()).toEqual(['tagcache', 'tagcache-cluster']);
  });

  it.each(tagcacheServices)(
    '%s: every variable is a setting, and loadConfig takes them as set',
    (_name, service) => {
      const env = containerEnv(service);
      expect(
        Object.keys(env).filter((n) => !settings.includes(n)),
        'not settings of tagcache',
      ).toEqual([]);
      const config = loadConfig(env);
      for (const [name, value] of Object.entries(env)) {
        expect(shown(config, name), `${name}=${value}`).toEqual(expected(config, name, value));
      }
      expect(config.invalidateToken, 'the stack has /invalidate on').toBeDefined();
    },
  );

  it('every variable the compose file interpolates has a default, so a bare `docker compose up` works', () => {
    const names = interpolate(readText('docker-compose.yml')).undefinedNames;
    expect(names).toEqual([]);
  });

  it('the demo backend is given only the variables demo-origin.ts reads', () => {
    const demo = compose.services['demo-backend'];
    if (demo === undefined) throw new Error('no demo-backend service');
    const reads = processEnvNames('src/demo-origin.ts');
    expect(Object.keys(serviceEnv(demo)).filter((n) => !reads.includes(n))).toEqual([]);
  });
});

describe('the Prometheus config scrapes the admin port tagcache listens on', () => {
  const prometheus = readYaml('docker/prometheus.yml') as {
    scrape_configs?: { job_name: string; metrics_path?: string; static_configs?: { targets: string[] }[] }[];
    rule_files?: string[];
  };
  const tagcache = compose.services.tagcache;
  if (tagcache === undefined) throw new Error('no tagcache service in docker-compose.yml');
  const adminPort = loadConfig(containerEnv(tagcache)).adminPort;

  it('a scrape job targets tagcache:<ADMIN_PORT>/metrics', () => {
    const jobs = (prometheus.scrape_configs ?? []).filter((job) =>
      (job.static_configs ?? []).some((sc) => sc.targets.includes(`tagcache:${adminPort}`)),
    );
    expect(
      jobs.map((j) => j.job_name),
      `no scrape job targets tagcache:${adminPort}`,
    ).not.toEqual([]);
    for (const job of jobs) expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    expect(dockerfile.expose).toContain(adminPort);
    expect(publishedTargets(tagcache)).toContain(adminPort);
  });

  it('Prometheus loads docker/alerts.yml, and its rules watch a job that is scraped', () => {
    const service = compose.services.prometheus;
    if (service === undefined) throw new Error('no prometheus service in docker-compose.yml');
    const mounted = bindMounts(service);
    const alerts = mounted.find((m) => relative(ROOT, m.source) === 'docker/alerts.yml');
    expect(alerts, 'docker/alerts.yml is mounted into the prometheus service').toBeDefined();
    const ruleFiles = (prometheus.rule_files ?? []).map((f) => posix.resolve('/etc/prometheus', f));
    expect(
      ruleFiles,
      `docker/prometheus.yml must list the mounted alert rules: rule_files: ['${alerts?.target}']`,
    ).toContain(alerts?.target);
    const jobs = (prometheus.scrape_configs ?? []).map((j) => j.job_name);
    const watched = [...readText('docker/alerts.yml').matchAll(/job="([^"]+)"/g)].map((m) => m[1]);
    for (const job of watched) expect(jobs, `alerts.yml watches job "${job}"`).toContain(job);
  });
});

describe('the image runs with production dependencies only', () => {
  it('package-lock.json agrees with package.json, so `npm ci` in the image build can install', () => {
    const pkg = JSON.parse(readText('package.json')) as Record<string, Record<string, string> | undefined>;
    const lock = JSON.parse(readText('package-lock.json')) as {
      packages: Record<string, Record<string, Record<string, string> | undefined>>;
    };
    const root = lock.packages[''] ?? {};
    for (const kind of ['dependencies', 'devDependencies']) {
      expect(root[kind] ?? {}, `package-lock.json ${kind}: run npm install`).toEqual(pkg[kind] ?? {});
    }
  });

  it('every package src/ imports at run time is a dependency, not a devDependency', () => {
    const pkg = JSON.parse(readText('package.json')) as { dependencies: Record<string, string> };
    const files = filesUnder(ROOT, 'src').filter((f) => f.endsWith('.ts'));
    const imported = new Set<string>();
    for (const file of files) {
      const source = readFileSync(join(ROOT, file), 'utf8');
      // `import type` vanishes from the build; every other import or re-export is loaded at run time.
      for (const m of source.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^;]*?from\s+'([^']+)'/gm)) {
        imported.add(m[1] ?? '');
      }
      for (const m of source.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) imported.add(m[1] ?? '');
    }
    const packages = [...imported]
      .filter((spec) => !spec.startsWith('.') && !spec.startsWith('node:') && !builtinModules.includes(spec))
      .map((spec) =>
        spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? ''),
      );
    expect(packages.length).toBeGreaterThan(0);
    expect([...new Set(packages)].filter((p) => pkg.dependencies[p] === undefined)).toEqual([]);
  });
});

describe('the README documents the stack', () => {
  const section = readmeSection('Operating tagcache');

  it('names every compose service and the host port of each', () => {
    for (const [name, service] of services) {
      expect(section, `service ${name}`).toContain(`\`${name}\``);
      for (const port of publishedHostPorts(service)) {
        expect(section, `${name}: host port ${port}`).toContain(`localhost:${port}`);
      }
    }
  });

  it('lists exactly the alerts docker/alerts.yml defines', () => {
    const defined = [...readText('docker/alerts.yml').matchAll(/- alert: (\w+)/g)].map((m) => m[1]).sort();
    const listed = [...section.matchAll(/^\| `(Tagcache\w+)` \|/gm)].map((m) => m[1]).sort();
    expect(listed).toEqual(defined);
  });
});

/** A config field as text, for comparing with the environment value that set it. */
function shown(config: Config, name: string): unknown {
  const value = fieldOf(config, name);
  if (value instanceof URL) return value.href;
  if (Array.isArray(value))
    return value.map((n: { host: string; port: number }) => `${n.host}:${n.port}`).join(',');
  return value;
}

function expected(config: Config, name: string, value: string): unknown {
  const current = fieldOf(config, name);
  if (current instanceof URL) return new URL(value).href;
  if (typeof current === 'boolean') return readBool({ [name]: value }, name, false);
  if (typeof current === 'number')
    return /^\d+$/.test(value) ? Number(value) : readBytes({ [name]: value }, name, 0, 0);
  return value;
}

/** UPSTREAM_URL → upstreamUrl, SERVER_KEEPALIVE_TIMEOUT_MS → serverKeepAliveTimeoutMs. */
function fieldOf(config: Config, name: string): unknown {
  const wanted = name.replaceAll('_', '').toLowerCase();
  const key = Object.keys(config).find((k) => k.toLowerCase() === wanted);
  if (key === undefined) throw new Error(`${name}: no field of Config holds it`);
  return (config as unknown as Record<string, unknown>)[key];
}
