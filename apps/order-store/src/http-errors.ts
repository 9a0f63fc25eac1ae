import type { ServerResponse } from 'node:http';
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

export function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, { error: { code: error.code, message: error.message, details: error.details } }, error.headers);
}

/** Writes a JSON answer in one go; cheaper than res.json(), which matters on the order route. */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res
    .writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) })
    .end(body);
}

/** Answers a failed request: an HttpError as itself, anything else as a logged 500. */
export function answerError(res: ServerResponse, error: unknown, onUnexpected: (error: unknown) => void): void {
  // A request already answered (a body deadline, say) can still fail while it is torn down.
  if (res.headersSent) return;
  if (error instanceof HttpError) return sendError(res, error);
  onUnexpected(error);
  sendError(res, new HttpError(500, 'internal', 'the request failed unexpectedly'));
}

/** answerError as express's error middleware. */
export function errorHandler(onUnexpected: (error: unknown) => void) {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction): void => answerError(res, error, onUnexpected);
}
