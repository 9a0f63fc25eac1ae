import {
  CommunicationProtocolEnum,
  DaprClient,
  HTTPClient,
  HttpMethod,
  LogLevel,
  StateConcurrencyEnum,
  StateConsistencyEnum,
} from '@dapr/dapr';
import type { Logger } from 'pino';
import { traceHeaders } from './tracing';

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

/** What the invoked app (or Dapr, on its behalf) answered. */
export interface SidecarResponse {
  /** The error's status; every success is 200, as the SDK does not say which 2xx it was. */
  status: number;
  body: string;
}

export interface CallOptions {
  /** Sent with the call (invoke only: the SDK's state calls take no headers). */
  headers?: Record<string, string>;
  /** How long to wait for the answer; past it the call fails with DaprUnreachableError. */
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

const CONCURRENCY = { 'first-write': StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE, 'last-write': StateConcurrencyEnum.CONCURRENCY_LAST_WRITE };
const CONSISTENCY = { eventual: StateConsistencyEnum.CONSISTENCY_EVENTUAL, strong: StateConsistencyEnum.CONSISTENCY_STRONG };

/** One item of `client.state.save`, as the SDK types it (its KeyValuePairType is not exported). */
type SdkStateItem = Parameters<DaprClient['state']['save']>[1][number];

/**
 * The app's own Dapr sidecar, through the Dapr JS SDK (`@dapr/dapr`) as its docs and the Dapr
 * quickstarts use it: `new DaprClient({ communicationProtocol: HTTP })`, then `client.state` and
 * `client.invoker`. This class adapts them to what the apps need; each place where the SDK falls
 * short says so (Gap).
 */
export class DaprSidecar {
  private readonly client: DaprClient;
  /** The HTTP transport DaprClient built (`client.daprClient`), for the one call the SDK has no method for. */
  private readonly http: HTTPClient;

  constructor(private readonly address: SidecarAddress) {
    this.client = new DaprClient({
      daprHost: address.host,
      daprPort: String(address.httpPort),
      communicationProtocol: CommunicationProtocolEnum.HTTP,
      ...(address.apiToken ? { daprApiToken: address.apiToken } : {}),
      // Every failure reaches our caller as an exception, which it logs as JSON with its context;
      // the SDK's own console line (one per refused insert) would only repeat it.
      logger: { level: LogLevel.Error, service: { error() {}, warn() {}, info() {}, verbose() {}, debug() {} } },
    });
    // DaprClient builds an HTTPClient for CommunicationProtocolEnum.HTTP
    // (@dapr/dapr 3.18.0, src/implementation/Client/DaprClient.ts, the constructor's switch).
    if (!(this.client.daprClient instanceof HTTPClient)) throw new Error('the Dapr SDK built no HTTP client for CommunicationProtocolEnum.HTTP');
    this.http = this.client.daprClient;
    // Gap: before its first call the SDK runs start(), which polls /metadata (answered before
    // the sidecar's components are ready) and gives up after 60 tries. The apps instead wait with
    // waitUntilReady for as long as it takes, or answer 503 until the sidecar is ready.
    this.http.setIsInitialized(true);
    // Gap: the SDK's state calls take no headers. Every call carries the active trace context
    // (traceparent), so the sidecar's span for it is a child of the app's span for the order.
    const execute = this.http.execute.bind(this.http);
    this.http.execute = (url, params, requiresInitialization) =>
      execute(url, { method: 'GET', ...params, headers: traceHeaders({ ...params?.headers }) }, requiresInitialization);
  }

  get endpoint(): string {
    return `http://${this.address.host}:${this.address.httpPort}`;
  }

  /** Saves every item; an ETag mismatch (first-write refused) is a DaprHttpError with status 409. */
  async saveState(store: string, items: StateItem[], options: CallOptions = {}): Promise<void> {
    const what = `POST /v1.0/state/${store}`;
    // Gap: save() answers a failure with `{ error }` instead of throwing it.
    const { error } = await this.call(what, options, () => this.client.state.save(store, items.map(toSdkItem)));
    if (error) throw sidecarError(what, error);
  }

  /** The value stored under `key`, or undefined when there is none. */
  async getState(store: string, key: string, options: CallOptions = {}): Promise<unknown> {
    // Gap: get() puts the key into the URL as it is, and answers an absent key with ''.
    const value = await this.call(`GET /v1.0/state/${store}/${key}`, options, () => this.client.state.get(store, encodeURIComponent(key)));
    return value === '' ? undefined : value;
  }

  /** The value stored under `key` with its ETag, for a compare-and-set; undefined when there is none. */
  async getStateEntry(store: string, key: string, options: CallOptions = {}): Promise<StateEntry | undefined> {
    const what = `POST /v1.0/state/${store}/bulk`;
    // Gap: get() returns the value without its ETag; a bulk get of the one key returns both. (daprd's
    // metrics count it as a POST to the store's path, answered 200 where a save answers 204.)
    const [entry]: Array<Record<string, unknown>> = await this.call(what, options, () => this.client.state.getBulk(store, [key]));
    // The bulk answer itself is a 200; a failed read of the key is reported as the 500 a get would have been.
    if (typeof entry?.error === 'string' && entry.error !== '') throw new DaprHttpError(500, entry.error);
    if (entry?.data === undefined || entry.data === '') return undefined;
    if (typeof entry.etag !== 'string') throw new DaprHttpError(200, 'the state store sent no ETag', 'ERR_NO_ETAG');
    return { value: entry.data, etag: entry.etag };
  }

  /**
   * Calls `method` on `appId` through Dapr service invocation and returns the answer whatever its
   * status: a 4xx from the called app means something different from one from Dapr, and the
   * caller decides. Throws DaprUnreachableError only when no answer came.
   */
  async invoke(appId: string, method: string, body: object, options: CallOptions = {}): Promise<SidecarResponse> {
    const what = `POST /v1.0/invoke/${appId}/method/${method}`;
    try {
      const answer = await this.call(what, options, () =>
        this.client.invoker.invoke(appId, method, HttpMethod.POST, body, { headers: { ...options.headers } }),
      );
      return { status: 200, body: typeof answer === 'string' ? answer : JSON.stringify(answer) };
    } catch (error) {
      if (error instanceof DaprHttpError) return { status: error.status, body: error.body };
      throw error;
    }
  }

  /** True once the sidecar says it can reach its components and the control plane. */
  async isReady(timeoutMs = 2_000): Promise<boolean> {
    try {
      // Gap: the SDK's health check asks /metadata, which answers before the sidecar is ready;
      // /healthz/outbound is Dapr's readiness for apps, asked through the SDK's own transport.
      await this.call('GET /v1.0/healthz/outbound', { timeoutMs }, () => this.http.execute('/healthz/outbound', { method: 'GET' }, false));
      return true;
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

  /** Closes the pooled connections so that the process can exit (the SDK shares one pool per process). */
  close(): void {
    void this.client.stop();
  }

  /**
   * Gap: the SDK's calls take no timeout or abort signal. What times out a slow app or state
   * store is the resiliency policy (components/resiliency.yaml): the sidecar answers 500 when
   * its timeout runs out. This deadline is the backstop for a sidecar that does not answer at
   * all: the caller stops waiting, and the request is left to finish or fail on its own.
   */
  private async call<T>(what: string, options: CallOptions, request: () => Promise<T>): Promise<T> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new DaprUnreachableError(`${what} to the Dapr sidecar failed: no answer within ${timeoutMs}ms`)), timeoutMs);
    });
    try {
      return await Promise.race([request(), deadline]);
    } catch (error) {
      throw sidecarError(what, error);
    } finally {
      clearTimeout(timer);
    }
  }
}

function toSdkItem(item: StateItem): SdkStateItem {
  const { options, ...entry } = item;
  if (!options) return entry;
  return {
    ...entry,
    options: {
      concurrency: options.concurrency ? CONCURRENCY[options.concurrency] : StateConcurrencyEnum.CONCURRENCY_UNSPECIFIED,
      consistency: options.consistency ? CONSISTENCY[options.consistency] : StateConsistencyEnum.CONSISTENCY_UNSPECIFIED,
    },
  };
}

/**
 * Gap: the SDK reports an error status as `Error('{"error":..,"error_msg":<body>,"status":..}')`
 * and a network failure as node-fetch's own error; this tells the two apart.
 */
function sidecarError(what: string, error: unknown): DaprHttpError | DaprUnreachableError {
  if (error instanceof DaprHttpError || error instanceof DaprUnreachableError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const answer = parseJsonObject(message);
  if (answer && typeof answer.status === 'number') {
    const body = typeof answer.error_msg === 'string' ? answer.error_msg : '';
    const errorCode = parseJsonObject(body)?.errorCode;
    return new DaprHttpError(answer.status, body, typeof errorCode === 'string' ? errorCode : undefined);
  }
  return new DaprUnreachableError(`${what} to the Dapr sidecar failed: ${message}`, error);
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
