import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './http-errors';

export interface JsonBodyLimits {
  /** Larger bodies are answered 413 without being read in full. */
  limitBytes: number;
  /** A body not received in full by then is answered 408 and its connection closed. */
  timeoutMs: number;
}

/** `application/json` or `application/<anything>+json`, with no charset or UTF-8. */
const JSON_MEDIA_TYPE = /^application\/(?:[\w.-]+\+)?json$/i;

/**
 * Reads a UTF-8 JSON request body, as express.json() would, for the order route that express does
 * not serve (routes.ts says why). Each refusal is an HttpError with the status and code the README
 * documents, raised before anything is stored.
 */
export function readJsonBody(req: IncomingMessage, res: ServerResponse, { limitBytes, timeoutMs }: JsonBodyLimits): Promise<unknown> {
  const refusal = checkHeaders(req, limitBytes);
  if (refusal) return Promise.reject(refusal);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const settle = (error: HttpError | undefined, body?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('aborted', onAborted);
      if (error) reject(error);
      else resolve(body);
    };
    const timer = setTimeout(() => {
      // Slow senders cannot hold sockets: the answer goes out, then the connection goes.
      res.once('finish', () => req.destroy());
      settle(new HttpError(408, 'body_timeout', `the request body did not arrive within ${timeoutMs}ms`, [], { Connection: 'close' }));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limitBytes) return settle(tooLarge(limitBytes));
      chunks.push(chunk);
    };
    const onEnd = () => {
      const parsed = parseStrictJson(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
      if (parsed instanceof HttpError) settle(parsed);
      else settle(undefined, parsed.value);
    };
    const onAborted = () => settle(new HttpError(400, 'request_aborted', 'the request body was not received in full'));
    req.on('data', onData).on('end', onEnd).on('aborted', onAborted);
  });
}

function checkHeaders(req: IncomingMessage, limitBytes: number): HttpError | undefined {
  const [mediaType = '', ...parameters] = (req.headers['content-type'] ?? '').split(';');
  if (!JSON_MEDIA_TYPE.test(mediaType.trim())) {
    return new HttpError(415, 'unsupported_media_type', 'the request body must be application/json');
  }
  const charset = parameters.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('charset='));
  if (charset && !/^charset="?utf-?8"?$/.test(charset)) {
    return new HttpError(415, 'unsupported_charset', 'the request body must be UTF-8');
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') {
    return new HttpError(415, 'unsupported_encoding', 'the request body encoding is not supported');
  }
  if (Number(req.headers['content-length'] ?? 0) > limitBytes) return tooLarge(limitBytes);
  return undefined;
}

function tooLarge(limitBytes: number): HttpError {
  return new HttpError(413, 'body_too_large', `the request body is larger than ${limitBytes} bytes`);
}

/** Objects and arrays only, as express.json() in strict mode; an empty body is an empty object. */
function parseStrictJson(raw: Buffer): { value: unknown } | HttpError {
  const text = raw.toString('utf8');
  const first = /\S/.exec(text)?.[0];
  if (first === undefined) return { value: {} };
  if (first === '{' || first === '[') {
    try {
      return { value: JSON.parse(text) as unknown };
    } catch {
      // Falls through to the one refusal below.
    }
  }
  return new HttpError(400, 'malformed_json', 'the request body is not valid JSON');
}
