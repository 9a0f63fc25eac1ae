import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import type { Logger } from './logger';

export interface SidecarAddress {
  host: string;
  httpPort: number;
  /** Sent as `dapr-api-token` when the sidecar requires one (Dapr sets DAPR_API_TOKEN in the pod). */
  apiToken?: string | undefined;
}

/** One entry of a state save, as Dapr's state API takes it (`POST /v1.0/state/<store>`). */
export interface StateItem {
  key: string;
  value: unknown;
  etag?: string;
  options?: { concurrency?: 'first-write' | 'last-write'; consistency?: 'eventual' | 'strong' };
}

/** A stored value and the ETag a conditional write of the same key must name. */
export interface StateEntry {
  value: unknown;
  etag: string;
}

export interface SidecarResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface CallOptions {
  headers?: Record<string, string>;
  /** The whole call, connect to last byte; the request is aborted when it runs out. */
  timeoutMs?: number;
}

/** The sidecar answered with an error status; `errorCode` is Dapr's own (ERR_STATE_SAVE, ...) when it sent one. */
export class DaprHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly errorCode?: string,
  ) {
    super(`the Dapr sidecar answered ${status}${errorCode ? ` ${errorCode}` : ''}: ${body.slice(0, 500)}`);
    this.name = 'DaprHttpError';
  }
}

/** No answer at all: the sidecar is unreachable, dropped the connection or ran past the timeout. */
export class DaprUnreachableError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'DaprUnreachableError';
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The app's own sidecar, over Dapr's HTTP API (v1.0). Both apps make only a few kinds of call on
 * every order, so this is a keep-alive node:http client rather than the Dapr JS SDK: importing the
 * SDK alone costs about 50 MB of memory, and with it order-store spent a third more CPU per order
 * (the README's Performance section has the figures).
 */
export class DaprSidecar {
  private readonly agent = new Agent({ keepAlive: true, scheduling: 'lifo' });
  private readonly baseHeaders: Record<string, string>;

  constructor(private readonly address: SidecarAddress) {
    this.baseHeaders = address.apiToken ? { 'dapr-api-token': address.apiToken } : {};
  }

  get endpoint(): string {
    return `http://${this.address.host}:${this.address.httpPort}`;
  }

  /** Saves every item; an ETag mismatch (first-write refused) is a DaprHttpError with status 409. */
  async saveState(store: string, items: StateItem[], options: CallOptions = {}): Promise<void> {
    const res = await this.call('POST', `/v1.0/state/${store}`, JSON.stringify(items), options);
    if (res.status !== 204 && res.status !== 200) throw httpError(res);
  }

  /** The value stored under `key`, or undefined when there is none. */
  async getState(store: string, key: string, options: CallOptions = {}): Promise<unknown> {
    const res = await this.call('GET', `/v1.0/state/${store}/${encodeURIComponent(key)}`, undefined, options);
    if (res.status === 204 || (res.status === 200 && res.body === '')) return undefined;
    if (res.status !== 200) throw httpError(res);
    return JSON.parse(res.body) as unknown;
  }

  /** The value stored under `key` with its ETag, for a compare-and-set; undefined when there is none. */
  async getStateEntry(store: string, key: string, options: CallOptions = {}): Promise<StateEntry | undefined> {
    const res = await this.call('GET', `/v1.0/state/${store}/${encodeURIComponent(key)}`, undefined, options);
    if (res.status === 204 || (res.status === 200 && res.body === '')) return undefined;
    if (res.status !== 200) throw httpError(res);
    const etag = res.headers.etag;
    if (typeof etag !== 'string') throw new DaprHttpError(res.status, 'the state store sent no ETag', 'ERR_NO_ETAG');
    return { value: JSON.parse(res.body) as unknown, etag };
  }

  /**
   * Calls `method` on `appId` through Dapr service invocation and returns the answer whatever its
   * status: a 4xx from the called app means something different from one from Dapr, and the
   * caller decides. Throws DaprUnreachableError only when no answer came.
   */
  invoke(appId: string, method: string, body: unknown, options: CallOptions = {}): Promise<SidecarResponse> {
    return this.call('POST', `/v1.0/invoke/${appId}/method/${method}`, JSON.stringify(body), options);
  }

  /** True once the sidecar says it can reach its components and the control plane. */
  async isReady(timeoutMs = 2_000): Promise<boolean> {
    try {
      return (await this.call('GET', '/v1.0/healthz/outbound', undefined, { timeoutMs })).status === 204;
    } catch {
      return false;
    }
  }

  /**
   * Resolves once the sidecar is ready, however long that takes: in Kubernetes the sidecar can
   * wait a while for its certificate or its components, and the app has nothing to do until then.
   */
  async waitUntilReady(logger: Logger, retryMs = 1_000, isCancelled: () => boolean = () => false): Promise<void> {
    let warned = false;
    while (!isCancelled() && !(await this.isReady())) {
      if (!warned) logger.warn({ sidecar: this.endpoint }, 'the Dapr sidecar is not ready yet; still waiting');
      warned = true;
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }

  /** Closes the pooled connections so that the process can exit. */
  close(): void {
    this.agent.destroy();
  }

  private call(method: string, path: string, body: string | undefined, options: CallOptions): Promise<SidecarResponse> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const headers: Record<string, string | number> = { ...this.baseHeaders, ...options.headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    return new Promise((resolve, reject) => {
      const req = request(
        { host: this.address.host, port: this.address.httpPort, method, path, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', fail);
        },
      );
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs}ms`)), timeoutMs);
      function fail(error: Error) {
        clearTimeout(timer);
        reject(new DaprUnreachableError(`${method} ${path} to the Dapr sidecar failed: ${error.message}`, error));
      }
      req.on('error', fail);
      req.end(body);
    });
  }
}

function httpError(res: SidecarResponse): DaprHttpError {
  let errorCode: string | undefined;
  try {
    const parsed: unknown = JSON.parse(res.body);
    if (typeof parsed === 'object' && parsed !== null && 'errorCode' in parsed && typeof parsed.errorCode === 'string') {
      errorCode = parsed.errorCode;
    }
  } catch {
    // Not Dapr's JSON error body; the status says enough.
  }
  return new DaprHttpError(res.status, res.body, errorCode);
}
