import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type InvalidationReport,
  type InvalidationRequest,
  parseInvalidationJson,
  parseSurrogateKeyPurge,
  type RequestLimits,
} from '../modules/surrogate/index.js';
import { errorMessage, isTagcacheError, TagcacheError } from '../utils/errors.js';
import { sendJson, sendJsonError } from '../utils/json-response.js';
import type { Logger } from '../utils/logger.js';

export interface InvalidateHandlerOptions {
  /** INVALIDATE_TOKEN; undefined turns the endpoint off (503 saying how to turn it on). */
  readonly token: string | undefined;
  readonly invalidate: (req: InvalidationRequest) => Promise<InvalidationReport>;
  readonly log: Logger;
  /** Largest body read; past it the answer is 413 and the rest is not kept. */
  readonly maxBodyBytes?: number;
  /** Most tags or URLs in one request. */
  readonly maxItems?: number;
  readonly maxTagBytes: number;
}

const MiB = 1024 * 1024;
/** Tags or URLs named in the info line; the counts say the rest. */
const LOGGED_ITEMS = 20;

/**
 * POST /invalidate: checks the bearer token, reads a bounded body, validates
 * it and runs the invalidation. Every refusal is JSON `{ error, message }`
 * saying what is wrong; the token never reaches a log line.
 */
export function createInvalidateHandler(opts: InvalidateHandlerOptions) {
  const { log, invalidate, maxBodyBytes = MiB } = opts;
  const limits: RequestLimits = { maxItems: opts.maxItems ?? 1000, maxTagBytes: opts.maxTagBytes };
  // Digests of equal length, so comparing them in constant time leaks neither content nor length.
  const expected = opts.token === undefined ? undefined : digest(opts.token);

  return async function invalidateHandler(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      return sendJsonError(res, 405, 'TC_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use POST`, {
        allow: 'POST',
      });
    }
    if (expected === undefined) {
      return sendJsonError(
        res,
        503,
        'TC_INVALIDATION_DISABLED',
        'invalidation is off because INVALIDATE_TOKEN is not set; set INVALIDATE_TOKEN to a secret of at least 16 printable characters and restart tagcache',
      );
    }
    const auth = checkBearer(req.headers.authorization, expected);
    if (auth !== undefined) {
      log.warn(
        { client: req.socket.remoteAddress, reason: auth.reason },
        'invalidation refused: bad credentials',
      );
      return sendJsonError(res, 401, 'TC_UNAUTHORIZED', auth.message, { 'www-authenticate': auth.challenge });
    }
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

    let report: InvalidationReport;
    try {
      report = await invalidate(request);
    } catch (err) {
      return failed(res, log, request, err);
    }
    const { target } = request;
    log.info(
      {
        client: req.socket.remoteAddress,
        kind: target.kind,
        ...report,
        items:
          target.kind === 'tags'
            ? target.tags.slice(0, LOGGED_ITEMS)
            : target.kind === 'urls'
              ? target.urls.slice(0, LOGGED_ITEMS)
              : undefined,
      },
      'invalidated',
    );
    sendJson(res, 200, { status: 'ok', ...report });
  };
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
    return parseSurrogateKeyPurge(keyHeader, req.headers['fastly-soft-purge'], limits);
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

interface AuthFailure {
  readonly reason: 'missing' | 'wrong';
  readonly message: string;
  readonly challenge: string;
}

function checkBearer(header: string | undefined, expected: Buffer): AuthFailure | undefined {
  const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  const given = m?.[1];
  if (given === undefined) {
    return {
      reason: 'missing',
      message: 'a bearer token is required: send "Authorization: Bearer <INVALIDATE_TOKEN>"',
      challenge: 'Bearer realm="tagcache"',
    };
  }
  if (timingSafeEqual(digest(given), expected)) return undefined;
  return {
    reason: 'wrong',
    message: 'the bearer token is not the one INVALIDATE_TOKEN holds',
    challenge: 'Bearer realm="tagcache", error="invalid_token"',
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
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
