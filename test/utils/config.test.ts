import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/utils/config.js';
import { TagcacheError } from '../../src/utils/errors.js';

function rejects(env: Record<string, string>): TagcacheError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(TagcacheError);
    expect((err as TagcacheError).code).toBe('TC_CONFIG_INVALID');
    return err as TagcacheError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be rejected`);
}

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.host).toBe('0.0.0.0');
    expect(c.adminPort).toBe(9145);
    expect(c.adminHost).toBe('127.0.0.1');
    expect(c.redisUrl).toBeUndefined();
    expect(c.cacheMaxBytes).toBe(256 * 1024 * 1024);
    expect(c.maxObjectBytes).toBe(10 * 1024 * 1024);
    expect(c.invalidateToken).toBeUndefined();
    expect(c.routesFile).toBe('./routes.json');
    expect(c.workers).toBe(1);
    expect(c.logLevel).toBe('info');
    expect(c.debugHeaders).toBe(false);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads byte sizes with units', () => {
    expect(loadConfig({ CACHE_MAX_BYTES: '64MiB' }).cacheMaxBytes).toBe(64 * 1024 * 1024);
    expect(loadConfig({ CACHE_MAX_BYTES: '1g' }).cacheMaxBytes).toBe(1024 ** 3);
    expect(loadConfig({ MAX_OBJECT_BYTES: '512kb' }).maxObjectBytes).toBe(512_000);
    expect(loadConfig({ CACHE_MAX_BYTES: '268435456' }).cacheMaxBytes).toBe(268435456);
  });

  it('reads an upstream origin and a cluster node list', () => {
    const c = loadConfig({
      UPSTREAM_URL: 'http://127.0.0.1:3000',
      REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7001',
    });
    expect(c.upstreamUrl?.origin).toBe('http://127.0.0.1:3000');
    expect(c.redisClusterNodes).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
    ]);
  });

  it.each([
    ['PORT', 'eighty', 'PORT="eighty": expected a whole number from 0 to 65535'],
    ['PORT', '70000', 'PORT="70000": expected a whole number from 0 to 65535'],
    ['ADMIN_PORT', '-1', 'ADMIN_PORT="-1"'],
    ['CACHE_MAX_BYTES', 'lots', 'CACHE_MAX_BYTES="lots": expected a byte size'],
    ['MAX_OBJECT_BYTES', '1.5 parsecs', 'MAX_OBJECT_BYTES="1.5 parsecs"'],
    ['UPSTREAM_URL', 'ftp://x', 'UPSTREAM_URL="ftp://x": expected an http:// or https:// URL'],
    ['UPSTREAM_URL', 'http://backend/path', 'UPSTREAM_URL="http://backend/path"'],
    ['UPSTREAM_URL', 'not a url', 'UPSTREAM_URL="not a url"'],
    ['REDIS_URL', 'http://redis:6379', 'REDIS_URL="http://redis:6379": expected a redis:// or rediss:// URL'],
    [
      'REDIS_CLUSTER_NODES',
      'a:b:c',
      'REDIS_CLUSTER_NODES="a:b:c": expected a comma-separated list of host:port',
    ],
    ['WORKERS', '0', 'WORKERS="0": expected a whole number from 1 to 256'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent'],
    ['DEBUG_HEADERS', 'maybe', 'DEBUG_HEADERS="maybe": expected on or off'],
    ['UPSTREAM_HEADERS_TIMEOUT_MS', '5s', 'UPSTREAM_HEADERS_TIMEOUT_MS="5s"'],
    ['REDIS_PREFIX', 'has space', 'REDIS_PREFIX="has space"'],
  ])('rejects %s=%s with a line naming it', (name, value, message) => {
    const err = rejects({ [name]: value });
    expect(err.message).toContain(message);
    expect(err.message.split('\n')).toHaveLength(1);
  });

  it('compresses text, JSON, JavaScript, XML, SVG and wasm of at least 1 KiB unless told otherwise', () => {
    const c = loadConfig({});
    expect(c.compression).toBe(true);
    expect(c.compressionMinBytes).toBe(1024);
    expect(c.compressionTypes).toEqual(
      expect.arrayContaining(['text/*', 'application/json', 'image/svg+xml']),
    );
    const set = loadConfig({
      COMPRESSION: 'off',
      COMPRESSION_TYPES: 'Text/HTML, application/*+json',
      COMPRESSION_MIN_BYTES: '2k',
    });
    expect(set.compression).toBe(false);
    expect(set.compressionTypes).toEqual(['text/html', 'application/*+json']);
    expect(set.compressionMinBytes).toBe(2048);
    expect(rejects({ COMPRESSION: 'br' }).message).toBe(
      'COMPRESSION="br": expected on or off (also true/false, yes/no, 1/0)',
    );
    expect(rejects({ COMPRESSION_TYPES: 'text/html, json' }).message).toMatch(
      /^COMPRESSION_TYPES="text\/html, json": expected a comma-separated list of media types/,
    );
    expect(rejects({ COMPRESSION_MIN_BYTES: 'small' }).message).toMatch(/^COMPRESSION_MIN_BYTES="small"/);
  });

  it('turns every fast path on by default, all off with FAST_PATHS=off, or only the ones listed', () => {
    const all = { 'access-log': true, metrics: true, undici: true, 'lean-start': true, redis: true };
    const none = {
      'access-log': false,
      metrics: false,
      undici: false,
      'lean-start': false,
      redis: false,
    };
    expect(loadConfig({}).fastPaths).toEqual(all);
    expect(loadConfig({ FAST_PATHS: 'on' }).fastPaths).toEqual(all);
    expect(loadConfig({ FAST_PATHS: 'OFF' }).fastPaths).toEqual(none);
    expect(loadConfig({ FAST_PATHS: 'metrics, undici' }).fastPaths).toEqual({
      ...none,
      metrics: true,
      undici: true,
    });
    expect(rejects({ FAST_PATHS: 'metrics,relay' }).message).toBe(
      'FAST_PATHS="metrics,relay": expected on, off, or a comma-separated list of access-log, metrics, undici, lean-start, redis',
    );
    expect(rejects({ FAST_PATHS: 'yes' }).message).toMatch(/^FAST_PATHS="yes": expected on, off/);
  });

  it('rejects MAX_OBJECT_BYTES larger than CACHE_MAX_BYTES', () => {
    expect(rejects({ CACHE_MAX_BYTES: '1MiB', MAX_OBJECT_BYTES: '2MiB' }).message).toContain(
      'at most CACHE_MAX_BYTES',
    );
  });

  it('rejects both REDIS_URL and REDIS_CLUSTER_NODES', () => {
    expect(rejects({ REDIS_URL: 'redis://a:1', REDIS_CLUSTER_NODES: 'b:2' }).message).toContain(
      'REDIS_CLUSTER_NODES',
    );
  });

  it('reads Redis Sentinel settings, which come together and instead of REDIS_URL or a Cluster', () => {
    const c = loadConfig({ REDIS_SENTINELS: '10.0.0.1:26379,[::1]:26380', REDIS_SENTINEL_NAME: 'mymaster' });
    expect(c.redisSentinels).toEqual([
      { host: '10.0.0.1', port: 26379 },
      { host: '::1', port: 26380 },
    ]);
    expect(c.redisSentinelName).toBe('mymaster');
    expect(rejects({ REDIS_SENTINELS: '10.0.0.1:26379' }).message).toBe(
      'REDIS_SENTINEL_NAME="": expected the master name the sentinels monitor (required with REDIS_SENTINELS)',
    );
    expect(rejects({ REDIS_SENTINEL_NAME: 'mymaster' }).message).toContain('REDIS_SENTINEL_NAME="mymaster"');
    expect(
      rejects({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'redis://b:2' }).message,
    ).toContain('REDIS_SENTINELS="a:1": expected to be unset when REDIS_URL is set');
    expect(
      rejects({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: 'b:2' }).message,
    ).toContain('when REDIS_CLUSTER_NODES is set');
    expect(rejects({ REDIS_SENTINELS: 'a', REDIS_SENTINEL_NAME: 'm' }).message).toContain(
      'REDIS_SENTINELS="a": expected a comma-separated list of host:port',
    );
    expect(
      rejects({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'my master' }).message.split('\n'),
    ).toHaveLength(1);
  });

  it('never prints the invalidation token, even when rejecting it', () => {
    const err = rejects({ INVALIDATE_TOKEN: 'short' });
    expect(err.message).not.toContain('short');
    expect(err.message).toContain('INVALIDATE_TOKEN');
  });

  it('hides Redis credentials in its message', () => {
    const err = rejects({ REDIS_URL: 'http://user:secret@host:6379' });
    expect(err.message).not.toContain('secret');
  });
});
