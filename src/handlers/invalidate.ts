import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal, TokenSource } from '../modules/access/index.js';
import {
  type InvalidationOrigin,
  type InvalidationReport,
  type InvalidationRequest,
  parseInvalidationJson,
  parseSurrogateKeyPurge,
  type RequestLimits,
  scopeFor,
} from '../modules/invalidation/index.js';
import { errorMessage, isTagcacheError, TagcacheError } from '../utils/errors.js';
import { sendJson, sendJsonError } from '../utils/json-response.js';
import type { Logger } from '../utils/logger.js';
import { authenticate, requireScope } from './admin-auth.js';

export interface InvalidateHandlerOptions {
  /** INVALIDATE_TOKEN and INVALIDATE_TOKENS_FILE; none turns the endpoint off (503 saying how to turn it on). */
  readonly tokens: TokenSource;
  readonly invalidate: (req: InvalidationRequest, origin: InvalidationOrigin) => Promise<InvalidationReport>;
  readonly log: Logger;
  /** Largest body read; past it the answer is 413 and the rest is not kept. */
  readonly maxBodyBytes?: number;
  /** Most tags or URLs in one request. */
  readonly maxItems?: number;
  readonly maxTagBytes: number;
}

const MiB = 1024 * 1024;

/**
 * POST /invalidate: checks the bearer token, reads a bounded body, validates
 * it and runs the invalidation. Every refusal is JSON `{ error, message }`
 * saying what is wrong; the token never reaches a log line.
 */
export function createInvalidateHandler(opts: InvalidateHandlerOptions) {
  const { log, invalidate, maxBodyBytes = MiB } = opts;
  const limits: RequestLimits = { maxItems: opts.maxItems ?? 1000, maxTagBytes: opts.maxTagBytes };

  return async function invalidateHandler(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      return sendJsonError(res, 405, 'TC_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use POST`, {
        allow: 'POST',
      });
    }
    const principal = authenticate(req, res, opts.tokens, log);
    if (principal === undefined) return;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) return tooLarge(res, maxBodyBytes, limits.maxItems);
    let body: Buffer | 'too-large';
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (err) {
      // The client went away mid-upload: no one is left to answer.
      log.info(
        { client: req.socket.remoteAddress, err: errorMessage(err) },
        'invalidation abandoned by the client',
      );
      res.destroy();
      return;
    }
    if (body === 'too-large') return tooLarge(res, maxBodyBytes, limits.maxItems);

    let request: InvalidationRequest;
    try {
      request = parseRequest(req, body, limits);
    } catch (err) {
      if (!isTagcacheError(err, 'TC_BAD_INVALIDATION')) throw err;
      log.info(
        { client: req.socket.remoteAddress, status: err.status, err: err.message },
        'invalidation refused',
      );
      return sendJsonError(res, err.status, err.code, err.message);
    }

    if (!requireScope(req, res, principal, scopeFor(request), log)) return;
    await carryOut(req, res, request, principal);
  };

  /** The invalidation itself and its answer: one call, so a tracing span can wrap it in one line. */
  async function carryOut(
    req: IncomingMessage,
    res: ServerResponse,
    request: InvalidationRequest,
    principal: Principal,
  ): Promise<void> {
    let report: InvalidationReport;
    try {
      // The invalidator logs it (one line per invalidation) and records it in the history.
      report = await invalidate(request, { by: principal.name, client: req.socket.remoteAddress });
    } catch (err) {
      return failed(res, log, request, err);
    }
    sendJson(res, 200, { status: 'ok', ...report });
  }
}

/** The body as JSON, or the Fastly form: an empty body with a Surrogate-Key header. */
function parseRequest(req: IncomingMessage, body: Buffer, limits: RequestLimits): InvalidationRequest {
  const keyHeader = req.headers['surrogate-key'];
  if (body.length === 0) {
    if (keyHeader === undefined) {
      throw new TagcacheError(
        'TC_BAD_INVALIDATION',
        'the body is empty and there is no Surrogate-Key header; send JSON such as {"tags":["product:1"]} or an empty body with "Surrogate-Key: product:1"',
        400,
      );
    }
    return parseSurrogateKeyPurge(
      keyHeader,
      req.headers['fastly-soft-purge'],
      limits,
      req.headers['surrogate-key-host'],
    );
  }
  const type = req.headers['content-type'];
  if (!isJsonType(type)) {
    throw new TagcacheError(
      'TC_BAD_INVALIDATION',
      `Content-Type ${type === undefined ? 'is missing' : JSON.stringify(type)}; send the body as application/json`,
      415,
    );
  }
  if (keyHeader !== undefined) {
    throw new TagcacheError(
      'TC_BAD_INVALIDATION',
      'send either a JSON body or a Surrogate-Key header, not both',
      400,
    );
  }
  if (nestingDepth(body) > MAX_JSON_DEPTH) {
    throw new TagcacheError(
      'TC_BAD_INVALIDATION',
      `the JSON nests deeper than ${MAX_JSON_DEPTH} levels; an invalidation is one object of flat lists, such as {"tags":["product:1"]}`,
      400,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new TagcacheError('TC_BAD_INVALIDATION', `the body is not valid JSON: ${errorMessage(err)}`, 400);
  }
  return parseInvalidationJson(json, limits);
}

/** A purge body nests two levels; deep nesting only serves to overflow the stack of whatever walks it. */
const MAX_JSON_DEPTH = 16;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The deepest nesting of [ and { outside strings, counted on the bytes before anything parses them. */
function nestingDepth(body: Buffer): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

function isJsonType(value: string | undefined): boolean {
  const media = (value ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return media === 'application/json' || (media.startsWith('application/') && media.endsWith('+json'));
}

/**
 * Reads the body up to maxBytes. Past the limit it stops keeping chunks and
 * answers 'too-large' at once; the caller closes the connection with its 413,
 * so the rest is never read into memory.
 */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        resolve('too-large');
      } else chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => onError(new Error('the connection closed before the body was complete'));
    req.on('data', onData);
    req.on('close', onClose);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function tooLarge(res: ServerResponse, maxBytes: number, maxItems: number): void {
  // Closing the connection ends the upload; keep-alive would have to read it all first.
  sendJsonError(
    res,
    413,
    'TC_BAD_INVALIDATION',
    `the body is larger than ${maxBytes} bytes; split the request (at most ${maxItems} tags or URLs each)`,
    { connection: 'close' },
  );
}

/**
 * The store could not carry it out: 503 so publishers retry. Errors that are not
 * ours (a Redis client's, a worker's over IPC) count as the store's too.
 */
function failed(res: ServerResponse, log: Logger, request: InvalidationRequest, err: unknown): void {
  if (isTagcacheError(err, 'TC_BAD_INVALIDATION')) {
    sendJsonError(res, err.status, err.code, err.message);
    return;
  }
  // A programming error of ours is the admin listener's 500, not a store outage.
  if (isTagcacheError(err) && !err.code.startsWith('TC_STORE_')) throw err;
  const code = isTagcacheError(err, 'TC_STORE_TIMEOUT') ? 'TC_STORE_TIMEOUT' : 'TC_STORE_UNAVAILABLE';
  log.error({ kind: request.target.kind, soft: request.soft, err: errorMessage(err) }, 'invalidation failed');
  sendJsonError(
    res,
    503,
    code,
    `the store is unavailable, so the invalidation may not have been carried out (${errorMessage(err)}); retry it`,
    { 'retry-after': '5' },
  );
}
