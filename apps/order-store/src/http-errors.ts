import type { NextFunction, Request, Response } from 'express';

export interface ErrorDetail {
  path: string;
  message: string;
}

/** Every error this service answers has one shape: `{"error":{"code","message","details"}}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function sendError(res: Response, error: HttpError): void {
  res
    .status(error.status)
    .set(error.headers)
    .json({ error: { code: error.code, message: error.message, details: error.details } });
}

/** The body-parser failures express raises, mapped to our error shape. */
const bodyParserErrors: Record<string, (limit: number) => HttpError> = {
  'entity.parse.failed': () => new HttpError(400, 'malformed_json', 'the request body is not valid JSON'),
  'entity.too.large': (limit) =>
    new HttpError(413, 'body_too_large', `the request body is larger than ${limit} bytes`),
  'encoding.unsupported': () =>
    new HttpError(415, 'unsupported_encoding', 'the request body encoding is not supported'),
  'charset.unsupported': () => new HttpError(415, 'unsupported_charset', 'the request body must be UTF-8'),
  'request.aborted': () => new HttpError(400, 'request_aborted', 'the request body was not received in full'),
  'entity.verify.failed': () => new HttpError(400, 'malformed_body', 'the request body could not be read'),
  'request.size.invalid': () =>
    new HttpError(400, 'malformed_body', 'the request body length does not match Content-Length'),
  'stream.encoding.set': () => new HttpError(500, 'internal', 'the request could not be read'),
};

export function errorHandler(bodyLimit: number, onUnexpected: (error: unknown) => void) {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    // A request already answered (a body deadline, say) can still fail while it is torn down.
    if (res.headersSent) return;
    if (error instanceof HttpError) return sendError(res, error);
    const type = typeof error === 'object' && error !== null && 'type' in error ? String(error.type) : '';
    const mapped = bodyParserErrors[type];
    if (mapped) return sendError(res, mapped(bodyLimit));
    onUnexpected(error);
    sendError(res, new HttpError(500, 'internal', 'the request failed unexpectedly'));
  };
}
