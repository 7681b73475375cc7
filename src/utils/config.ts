import { availableParallelism } from 'node:os';
import { type AddressRange, parseAddressRange } from './client-address.js';
import {
  type Env,
  fail,
  raw,
  readBool,
  readBytes,
  readChoice,
  readInt,
  readOptionalString,
  readPattern,
  readPort,
  readString,
} from './env.js';
import { TagcacheError } from './errors.js';
import { ALL_FAST_PATHS, FAST_PATH_NAMES, type FastPaths, parseFastPaths } from './fast-paths.js';
import { readTracingConfig, type TracingConfig } from './tracing-config.js';

/**
 * Settings are read once, from the environment passed in, into a frozen object.
 * Nothing else in tagcache reads process.env. A bad value throws one
 * TC_CONFIG_INVALID error whose message names the setting, the value and what
 * was expected: start-up prints that line and exits.
 */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type BalanceMode = 'least-in-flight' | 'round-robin';

export interface Config {
  /** Default backend origin (scheme://host[:port], no path), or undefined when only routes name backends. */
  readonly upstreamUrl: URL | undefined;
  readonly port: number;
  readonly host: string;
  readonly adminPort: number;
  readonly adminHost: string;
  readonly redisUrl: string | undefined;
  readonly redisClusterNodes: readonly { host: string; port: number }[] | undefined;
  /** Sentinels that name the current master of redisSentinelName; set together with it. */
  readonly redisSentinels: readonly { host: string; port: number }[] | undefined;
  /** The master name the sentinels monitor (`sentinel monitor <name> …`). */
  readonly redisSentinelName: string | undefined;
  /** Namespace prefix of every Redis key tagcache writes. */
  readonly redisPrefix: string;
  /** Per-command deadline for the store; past it the proxy fails open. */
  readonly storeTimeoutMs: number;
  readonly cacheMaxBytes: number;
  readonly maxObjectBytes: number;
  readonly invalidateToken: string | undefined;
  /** JSON list of named tokens with scopes (INVALIDATE_TOKENS_FILE), reloaded on change. */
  readonly invalidateTokensFile: string | undefined;
  /** Answer the PURGE method on the proxy port (PURGE_METHOD). */
  readonly purgeMethod: boolean;
  /** Clients whose PURGE needs no token (PURGE_ALLOW). */
  readonly purgeAllow: readonly AddressRange[];
  readonly routesFile: string;
  readonly workers: number;
  readonly logLevel: LogLevel;
  readonly accessLog: boolean;
  readonly debugHeaders: boolean;
  readonly upstreamConnectTimeoutMs: number;
  readonly upstreamHeadersTimeoutMs: number;
  readonly upstreamBodyTimeoutMs: number;
  /** Connections kept per backend origin. */
  readonly upstreamConnections: number;
  readonly shutdownGraceMs: number;
  readonly serverKeepAliveTimeoutMs: number;
  readonly serverHeadersTimeoutMs: number;
  readonly serverRequestTimeoutMs: number;
  readonly maxHeaderBytes: number;
  /** How long a collapsed request waits for the leader's response before going upstream itself. */
  readonly collapseTimeoutMs: number;
  /** At most this many requests wait on one leader; the rest go upstream. */
  readonly collapseMaxWaiters: number;
  /** After an uncacheable response, requests for the key skip collapsing for this long. */
  readonly hitForMissSeconds: number;
  /** Tags kept per response; the rest are dropped with a warning. */
  readonly maxTagsPerResponse: number;
  /** Longest tag accepted, in UTF-8 bytes; longer ones are dropped with a warning. */
  readonly maxTagBytes: number;
  /** How long an expired entry is kept past its stale windows, for conditional revalidation. */
  readonly staleKeepSeconds: number;
  /** With Redis, how long this process keeps a memory copy of an entry it read or wrote (0: no local tier). */
  readonly localTierTtlMs: number;
  /** While a backend's circuit is open, stored entries are served stale up to this long past freshness. */
  readonly staleOnOutageSeconds: number;
  /** Send the client's Host to the backend instead of the backend's own host. */
  readonly preserveHost: boolean;
  /** Every origin of UPSTREAM_URL (a comma-separated list); upstreamUrl is the first. Empty when unset. */
  readonly upstreamUrls: readonly URL[];
  /** How a request picks among a route's backends. */
  readonly upstreamBalance: BalanceMode;
  /** Extra tries, on another backend, for idempotent requests that never reached the first one. */
  readonly upstreamRetries: number;
  /** How long a backend that failed to connect, timed out or reset is passed over. */
  readonly upstreamEjectMs: number;
  /** Consecutive failures that open a backend's circuit; 0 turns this threshold off. */
  readonly breakerConsecutiveFailures: number;
  /** Failure ratio over breakerWindowMs that opens a backend's circuit; 0 turns this threshold off. */
  readonly breakerErrorRate: number;
  readonly breakerWindowMs: number;
  /** Requests in the window before the error rate may open the circuit. */
  readonly breakerMinRequests: number;
  /** How long an open circuit refuses before it lets one probe through. */
  readonly breakerOpenMs: number;
  /** Answer statuses that count as backend failures; empty (the default): only transport failures count. */
  readonly breakerFailureStatuses: readonly number[];
  /** Requests per second per backend still sent while every backend of a route is open; 0 refuses them all. */
  readonly breakerPanicRps: number;
  /** Consecutive store failures that open the store's circuit; 0 turns the store breaker off. */
  readonly storeBreakerFailures: number;
  readonly storeBreakerOpenMs: number;
  /** Peers whose X-Forwarded-* headers are believed; empty trusts nobody. */
  readonly trustedProxies: readonly AddressRange[];
  /** Host patterns served (exact, or "*.example.com"), lower-case; empty serves any Host. */
  readonly allowedHosts: readonly string[];
  /** Longest request target (path and query); longer ones get 414. */
  readonly maxUrlBytes: number;
  /** Largest request body forwarded; larger ones get 413. */
  readonly maxBodyBytes: number;
  /** OpenTelemetry tracing (the standard OTEL_* variables); undefined when off. */
  readonly tracing: TracingConfig | undefined;
  /** Compress stored responses at the edge and decode the backend's codings for clients that lack them. */
  readonly compression: boolean;
  /** Media type patterns worth compressing (`text/*`, `application/*+json`), lower-case. */
  readonly compressionTypes: readonly string[];
  /** Smaller bodies are not compressed. */
  readonly compressionMinBytes: number;
  /** Which hot-path shortcuts replace their library's own way (FAST_PATHS; see utils/fast-paths.ts). */
  readonly fastPaths: FastPaths;
}

const MiB = 1024 * 1024;
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const BALANCE_MODES: readonly BalanceMode[] = ['least-in-flight', 'round-robin'];

export function loadConfig(env: Env = process.env): Config {
  const cacheMaxBytes = readBytes(env, 'CACHE_MAX_BYTES', 256 * MiB, 1024);
  const maxObjectBytes = readBytes(env, 'MAX_OBJECT_BYTES', 10 * MiB, 1);
  if (maxObjectBytes > cacheMaxBytes) {
    fail('MAX_OBJECT_BYTES', String(maxObjectBytes), `at most CACHE_MAX_BYTES (${cacheMaxBytes})`);
  }
  const redisUrl = readRedisUrl(env, 'REDIS_URL');
  const redisClusterNodes = readHostPorts(env, 'REDIS_CLUSTER_NODES');
  if (redisUrl !== undefined && redisClusterNodes !== undefined) {
    fail(
      'REDIS_CLUSTER_NODES',
      env.REDIS_CLUSTER_NODES ?? '',
      'to be unset when REDIS_URL is set (choose one store)',
    );
  }
  const { redisSentinels, redisSentinelName } = readSentinels(env, redisUrl, redisClusterNodes);
  const upstreamUrls = readOrigins(env, 'UPSTREAM_URL');
  return Object.freeze({
    upstreamUrl: upstreamUrls[0],
    port: readPort(env, 'PORT', 8080),
    host: readString(env, 'HOST', '0.0.0.0'),
    adminPort: readPort(env, 'ADMIN_PORT', 9145),
    adminHost: readString(env, 'ADMIN_HOST', '127.0.0.1'),
    redisUrl,
    redisClusterNodes,
    redisSentinels,
    redisSentinelName,
    redisPrefix: readPattern(
      env,
      'REDIS_PREFIX',
      'tc:',
      /^[A-Za-z0-9:_.{}-]{0,64}$/,
      'up to 64 of A-Z a-z 0-9 : _ . - { }',
    ),
    storeTimeoutMs: readInt(env, 'STORE_TIMEOUT_MS', 250, 1, 60_000),
    cacheMaxBytes,
    maxObjectBytes,
    invalidateToken: readToken(env, 'INVALIDATE_TOKEN'),
    invalidateTokensFile: readOptionalString(env, 'INVALIDATE_TOKENS_FILE'),
    purgeMethod: readBool(env, 'PURGE_METHOD', false),
    purgeAllow: readAddressRanges(env, 'PURGE_ALLOW'),
    routesFile: readString(env, 'ROUTES_FILE', './routes.json'),
    workers: readWorkers(env, 'WORKERS'),
    logLevel: readChoice(env, 'LOG_LEVEL', 'info', LOG_LEVELS),
    accessLog: readBool(env, 'ACCESS_LOG', true),
    debugHeaders: readBool(env, 'DEBUG_HEADERS', false),
    upstreamConnectTimeoutMs: readInt(env, 'UPSTREAM_CONNECT_TIMEOUT_MS', 5_000, 1, 600_000),
    upstreamHeadersTimeoutMs: readInt(env, 'UPSTREAM_HEADERS_TIMEOUT_MS', 30_000, 1, 3_600_000),
    upstreamBodyTimeoutMs: readInt(env, 'UPSTREAM_BODY_TIMEOUT_MS', 30_000, 1, 3_600_000),
    upstreamConnections: readInt(env, 'UPSTREAM_CONNECTIONS', 256, 1, 100_000),
    shutdownGraceMs: readInt(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    serverKeepAliveTimeoutMs: readInt(env, 'SERVER_KEEPALIVE_TIMEOUT_MS', 5_000, 0, 600_000),
    serverHeadersTimeoutMs: readInt(env, 'SERVER_HEADERS_TIMEOUT_MS', 20_000, 1, 600_000),
    serverRequestTimeoutMs: readInt(env, 'SERVER_REQUEST_TIMEOUT_MS', 300_000, 0, 3_600_000),
    maxHeaderBytes: readInt(env, 'MAX_HEADER_BYTES', 16_384, 1024, 1_048_576),
    collapseTimeoutMs: readInt(env, 'COLLAPSE_TIMEOUT_MS', 10_000, 0, 600_000),
    collapseMaxWaiters: readInt(env, 'COLLAPSE_MAX_WAITERS', 10_000, 0, 1_000_000),
    hitForMissSeconds: readInt(env, 'HIT_FOR_MISS_SECONDS', 30, 0, 86_400),
    maxTagsPerResponse: readInt(env, 'MAX_TAGS_PER_RESPONSE', 256, 1, 10_000),
    maxTagBytes: readInt(env, 'MAX_TAG_BYTES', 1024, 1, 65_536),
    staleKeepSeconds: readInt(env, 'STALE_KEEP_SECONDS', 3600, 0, 30 * 86_400),
    localTierTtlMs: readInt(env, 'LOCAL_TIER_TTL_MS', 30_000, 0, 3_600_000),
    staleOnOutageSeconds: readInt(env, 'STALE_ON_OUTAGE_SECONDS', 7200, 0, 30 * 86_400),
    preserveHost: readBool(env, 'PRESERVE_HOST', false),
    upstreamUrls,
    upstreamBalance: readChoice(env, 'UPSTREAM_BALANCE', 'least-in-flight', BALANCE_MODES),
    upstreamRetries: readInt(env, 'UPSTREAM_RETRIES', 1, 0, 10),
    upstreamEjectMs: readInt(env, 'UPSTREAM_EJECT_MS', 10_000, 0, 3_600_000),
    breakerConsecutiveFailures: readInt(env, 'BREAKER_CONSECUTIVE_FAILURES', 5, 0, 100_000),
    breakerErrorRate: readRatio(env, 'BREAKER_ERROR_RATE', 0.5),
    breakerWindowMs: readInt(env, 'BREAKER_WINDOW_MS', 10_000, 100, 3_600_000),
    breakerMinRequests: readInt(env, 'BREAKER_MIN_REQUESTS', 20, 1, 1_000_000),
    breakerOpenMs: readInt(env, 'BREAKER_OPEN_MS', 5_000, 1, 3_600_000),
    breakerFailureStatuses: readStatuses(env, 'BREAKER_FAILURE_STATUSES'),
    breakerPanicRps: readRate(env, 'BREAKER_PANIC_RPS', 1, 1_000),
    storeBreakerFailures: readInt(env, 'STORE_BREAKER_FAILURES', 5, 0, 100_000),
    storeBreakerOpenMs: readInt(env, 'STORE_BREAKER_OPEN_MS', 2_000, 1, 3_600_000),
    trustedProxies: readAddressRanges(env, 'TRUSTED_PROXIES'),
    allowedHosts: readHostPatterns(env, 'ALLOWED_HOSTS'),
    maxUrlBytes: readInt(env, 'MAX_URL_BYTES', 8000, 256, 1_048_576),
    maxBodyBytes: readBytes(env, 'MAX_BODY_BYTES', 100 * MiB, 1),
    tracing: readTracingConfig(env),
    compression: readBool(env, 'COMPRESSION', true),
    compressionTypes: readMediaTypes(env, 'COMPRESSION_TYPES', DEFAULT_COMPRESSION_TYPES),
    compressionMinBytes: readBytes(env, 'COMPRESSION_MIN_BYTES', 1024, 1),
    fastPaths: readFastPaths(env, 'FAST_PATHS'),
  });
}

function readFastPaths(env: Env, name: string): FastPaths {
  const value = raw(env, name);
  if (value === undefined) return ALL_FAST_PATHS;
  return (
    parseFastPaths(value) ??
    fail(name, value, `on, off, or a comma-separated list of ${FAST_PATH_NAMES.join(', ')}`)
  );
}

/** One origin, or several separated by commas (a route's default backends). */
function readOrigins(env: Env, name: string): readonly URL[] {
  const value = raw(env, name);
  if (value === undefined) return [];
  const origins = value
    .split(',')
    .map((item) =>
      parseOrigin(item.trim(), (expected) => fail(name, value, `${expected} (or several, comma-separated)`)),
    );
  // The same backend twice would get twice the share of the traffic, which nobody means by a typo.
  const unique = new Map(origins.map((url) => [url.origin, url]));
  return Object.freeze([...unique.values()]);
}

/** A fraction from 0 up to, not including, 1; 0 turns the threshold off. */
function readRatio(env: Env, name: string, fallback: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d*\.?\d+$/.test(value) || !(n >= 0 && n < 1)) {
    fail(name, value, 'a fraction from 0 (off) to below 1, such as 0.5');
  }
  return n;
}

/** A rate per second from 0 to max, fractions allowed (0.2: one every five seconds). */
function readRate(env: Env, name: string, fallback: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d*\.?\d+$/.test(value) || !(n >= 0 && n <= max)) {
    fail(name, value, `a number of requests per second from 0 (off) to ${max}, such as 1 or 0.2`);
  }
  return n;
}

/** HTTP statuses from 400 to 599, comma-separated; "none" or unset is the empty list. */
function readStatuses(env: Env, name: string): readonly number[] {
  const value = raw(env, name);
  if (value === undefined || value.toLowerCase() === 'none') return [];
  const expected = 'a comma-separated list of statuses from 400 to 599, such as 502,503,504 (or none)';
  return Object.freeze(
    value.split(',').map((item) => {
      const text = item.trim();
      const n = Number(text);
      return /^\d{3}$/.test(text) && n >= 400 && n <= 599 ? n : fail(name, value, expected);
    }),
  );
}

function readAddressRanges(env: Env, name: string): readonly AddressRange[] {
  const value = raw(env, name);
  if (value === undefined) return [];
  const expected = 'a comma-separated list of IP addresses or CIDR ranges, such as 10.0.0.0/8,::1';
  return Object.freeze(
    value.split(',').map((item) => parseAddressRange(item) ?? fail(name, value, expected)),
  );
}

const HOST_PATTERN = /^(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;
const IPV6_LITERAL = /^\[[0-9a-f:.]+\]$/;

/** Host names, IP literals or "*.example.com" suffix patterns, without ports; stored lower-case. */
function readHostPatterns(env: Env, name: string): readonly string[] {
  const value = raw(env, name);
  if (value === undefined) return [];
  const expected =
    'a comma-separated list of host names or *.suffix patterns, without ports, such as example.com,*.example.com';
  return Object.freeze(
    value.split(',').map((item) => {
      const host = item.trim().toLowerCase().replace(/\.$/, '');
      if (!HOST_PATTERN.test(host) && !IPV6_LITERAL.test(host)) fail(name, value, expected);
      return host;
    }),
  );
}

/** An http(s) origin with at most a "/" path: tagcache forwards the client's path as it came. */
export function parseOrigin(value: string, onError: (expected: string) => never): URL {
  const expected =
    'an http:// or https:// URL with no path, query or credentials, such as http://127.0.0.1:3000';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return onError(expected);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') onError(expected);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '')
    onError(expected);
  if (url.username !== '' || url.password !== '') onError(expected);
  return url;
}

function readRedisUrl(env: Env, name: string): string | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  const expected = 'a redis:// or rediss:// URL, such as redis://127.0.0.1:6379/0';
  try {
    const url = new URL(value);
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') fail(name, redactUrl(value), expected);
    if (url.hostname === '') fail(name, redactUrl(value), expected);
  } catch (err) {
    if (err instanceof TagcacheError) throw err;
    fail(name, redactUrl(value), expected);
  }
  return value;
}

/** Credentials in a URL never reach a log line or an error message. */
export function redactUrl(value: string): string {
  return value.replace(/\/\/[^/@]*@/, '//***@');
}

function readHostPorts(env: Env, name: string): { host: string; port: number }[] | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  const expected = 'a comma-separated list of host:port, such as 10.0.0.1:7000,10.0.0.2:7000';
  const nodes = value.split(',').map((item) => {
    const m = /^\[?([^\]\s]+?)\]?:(\d{1,5})$/.exec(item.trim());
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65_535) return fail(name, value, expected);
    return { host: m[1] as string, port };
  });
  return nodes;
}

/** REDIS_SENTINELS and REDIS_SENTINEL_NAME come together, and instead of REDIS_URL or a Cluster. */
function readSentinels(
  env: Env,
  redisUrl: string | undefined,
  redisClusterNodes: readonly unknown[] | undefined,
): Pick<Config, 'redisSentinels' | 'redisSentinelName'> {
  const redisSentinels = readHostPorts(env, 'REDIS_SENTINELS');
  const name = readOptionalString(env, 'REDIS_SENTINEL_NAME');
  if (redisSentinels === undefined) {
    if (name !== undefined) fail('REDIS_SENTINEL_NAME', name, 'to be unset unless REDIS_SENTINELS is set');
    return { redisSentinels: undefined, redisSentinelName: undefined };
  }
  const others =
    redisUrl !== undefined ? 'REDIS_URL' : redisClusterNodes !== undefined ? 'REDIS_CLUSTER_NODES' : '';
  if (others !== '') {
    fail(
      'REDIS_SENTINELS',
      env.REDIS_SENTINELS ?? '',
      `to be unset when ${others} is set (choose one store)`,
    );
  }
  if (name === undefined) {
    fail('REDIS_SENTINEL_NAME', '', 'the master name the sentinels monitor (required with REDIS_SENTINELS)');
  }
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(name)) {
    fail('REDIS_SENTINEL_NAME', name, 'a master name of up to 128 of A-Z a-z 0-9 . _ -');
  }
  return { redisSentinels, redisSentinelName: name };
}

/** True when the store (and the rate limiter) is Redis of any kind: shared by every instance. */
export function usesRedis(
  config: Pick<Config, 'redisUrl' | 'redisClusterNodes' | 'redisSentinels'>,
): boolean {
  return (
    config.redisUrl !== undefined ||
    config.redisClusterNodes !== undefined ||
    config.redisSentinels !== undefined
  );
}

function readToken(env: Env, name: string): string | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  // The token itself never appears in the message.
  if (value.length < 16)
    fail(name, `<${value.length} characters>`, 'a bearer token of at least 16 characters');
  if (!/^[\x21-\x7e]+$/.test(value)) fail(name, '<hidden>', 'printable ASCII with no spaces');
  return value;
}

/** Text, JSON, JavaScript, XML, SVG and WebAssembly: what compresses well and is not compressed already. */
const DEFAULT_COMPRESSION_TYPES = [
  'text/*',
  'application/json',
  'application/*+json',
  'application/javascript',
  'application/x-javascript',
  'application/ecmascript',
  'application/xml',
  'application/*+xml',
  'image/svg+xml',
  'application/wasm',
];

const MEDIA_TYPE_PATTERN = /^[a-z0-9!#$&^_.+*-]+\/[a-z0-9!#$&^_.+*-]+$/;

function readMediaTypes(env: Env, name: string, fallback: readonly string[]): readonly string[] {
  const value = raw(env, name);
  if (value === undefined) return Object.freeze([...fallback]);
  const expected =
    'a comma-separated list of media types, * matching within a part, such as text/*,application/json,application/*+json';
  const types = value.split(',').map((item) => item.trim().toLowerCase());
  if (types.some((t) => !MEDIA_TYPE_PATTERN.test(t))) fail(name, value, expected);
  return Object.freeze([...new Set(types)]);
}

function readWorkers(env: Env, name: string): number {
  const value = raw(env, name);
  if (value === undefined) return 1;
  if (value.toLowerCase() === 'auto') return availableParallelism();
  return readInt(env, name, 1, 1, 256);
}
