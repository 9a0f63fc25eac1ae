/**
 * Reads traces back from Jaeger's HTTP query API (the JSON API its UI uses: GET /api/traces) and
 * lays one out as a tree: what `npm run trace -- <orderId>` prints and what the trace tests check.
 */

interface JaegerTag {
  key: string;
  value: unknown;
}

interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: Array<{ refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }>;
  /** Microseconds since the epoch. */
  startTime: number;
  /** Microseconds. */
  duration: number;
  tags: JaegerTag[];
  processID: string;
}

interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags?: JaegerTag[] }>;
}

/** One span as the tests and the terminal view see it. */
export interface TraceSpan {
  traceId: string;
  spanId: string;
  /** The span's parent in the same trace; undefined for the root. */
  parentId: string | undefined;
  /** Spans of other traces this one links to (a group commit's orders, or an order's group commit). */
  links: Array<{ traceId: string; spanId: string }>;
  name: string;
  /** The app id. */
  service: string;
  /** Who made the span: the app itself, or its Dapr sidecar (Dapr reports under the app id, in Go). */
  process: 'app' | 'daprd';
  startUs: number;
  durationUs: number;
  tags: Record<string, unknown>;
  /** OpenTelemetry's status: 'error' for refused orders, failed attempts and failed calls. */
  error: boolean;
}

export interface TraceTree {
  traceId: string;
  spans: TraceSpan[];
}

async function getJson(url: string): Promise<{ data: JaegerTrace[] | null }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as { data: JaegerTrace[] | null };
}

function toTree(trace: JaegerTrace): TraceTree {
  const spans = trace.spans.map((span): TraceSpan => {
    const processInfo = trace.processes[span.processID];
    const language = processInfo?.tags?.find((tag) => tag.key === 'telemetry.sdk.language')?.value;
    const tags = Object.fromEntries(span.tags.map((tag) => [tag.key, tag.value]));
    const references = span.references ?? [];
    const parent = references.find((ref) => ref.refType === 'CHILD_OF' && ref.traceID === span.traceID);
    return {
      traceId: span.traceID,
      spanId: span.spanID,
      parentId: parent?.spanID,
      links: references.filter((ref) => ref !== parent).map((ref) => ({ traceId: ref.traceID, spanId: ref.spanID })),
      name: span.operationName,
      service: processInfo?.serviceName ?? 'unknown',
      // The apps' SDK says nodejs; daprd's resource carries no SDK attributes.
      process: language === 'nodejs' ? 'app' : 'daprd',
      startUs: span.startTime,
      durationUs: span.duration,
      tags,
      error: tags['otel.status_code'] === 'ERROR' || tags.error === true,
    };
  });
  spans.sort((a, b) => a.startUs - b.startUs);
  return { traceId: trace.traceID, spans };
}

/**
 * The traces that hold an order: its `order.id` attribute is on the generator's root span and on
 * the store's request span, so an order sent directly (no generator) is found too.
 */
export async function tracesOfOrder(queryUrl: string, orderId: string, services: string[]): Promise<TraceTree[]> {
  const found = new Map<string, TraceTree>();
  for (const service of services) {
    const params = new URLSearchParams({ service, tags: JSON.stringify({ 'order.id': orderId }), limit: '20', lookback: '1h' });
    const { data } = await getJson(`${queryUrl}/api/traces?${params.toString()}`);
    for (const trace of data ?? []) if (!found.has(trace.traceID)) found.set(trace.traceID, toTree(trace));
  }
  // A trace found through one service holds the spans of every service.
  for (const traceId of found.keys()) found.set(traceId, await traceById(queryUrl, traceId));
  return [...found.values()];
}

export async function traceById(queryUrl: string, traceId: string): Promise<TraceTree> {
  const { data } = await getJson(`${queryUrl}/api/traces/${traceId}`);
  const [trace] = data ?? [];
  if (!trace) throw new Error(`Jaeger has no trace ${traceId}`);
  return toTree(trace);
}

/** The spans' chain from the root down to `span`. */
export function ancestry(tree: TraceTree, span: TraceSpan): TraceSpan[] {
  const byId = new Map(tree.spans.map((s) => [s.spanId, s]));
  const chain = [span];
  for (let parent = span.parentId && byId.get(span.parentId); parent; parent = parent.parentId && byId.get(parent.parentId)) chain.unshift(parent);
  return chain;
}

/** A tag's value as text: Jaeger's tags are strings, numbers or booleans. */
const tagText = (value: unknown) => (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : '');

const ms = (us: number) => `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)} ms`;

/**
 * The trace as an indented tree, one span a line: who made it (app or its sidecar), its name, when
 * it started after the root, how long it took, and ✗ with the status for an error span.
 */
export function renderTrace(tree: TraceTree): string {
  const children = new Map<string | undefined, TraceSpan[]>();
  const ids = new Set(tree.spans.map((span) => span.spanId));
  for (const span of tree.spans) {
    // A parent that never arrived (sampled out, or still in flight) leaves its child at the top.
    const parent = span.parentId && ids.has(span.parentId) ? span.parentId : undefined;
    children.set(parent, [...(children.get(parent) ?? []), span]);
  }
  const start = Math.min(...tree.spans.map((span) => span.startUs));
  const end = Math.max(...tree.spans.map((span) => span.startUs + span.durationUs));
  const lines = [`trace ${tree.traceId}: ${tree.spans.length} spans, ${ms(end - start)}`];
  const rows: Array<[string, string, string]> = [];
  const walk = (parent: string | undefined, prefix: string) => {
    const list = children.get(parent) ?? [];
    list.forEach((span, index) => {
      const last = index === list.length - 1;
      const who = span.process === 'daprd' ? `${span.service} daprd` : span.service;
      const status = tagText(span.tags['http.response.status_code'] ?? span.tags['http.status_code']);
      const mark = span.error ? `  ✗ ${status} ${tagText(span.tags['otel.status_description'])}`.trimEnd() : '';
      const link = span.links.length > 0 ? `  (links ${span.links.length} span${span.links.length > 1 ? 's' : ''})` : '';
      rows.push([`${prefix}${parent === undefined ? '' : last ? '└─ ' : '├─ '}${who}: ${span.name}${link}${mark}`, `+${ms(span.startUs - start)}`, ms(span.durationUs)]);
      walk(span.spanId, parent === undefined ? prefix : prefix + (last ? '   ' : '│  '));
    });
  };
  walk(undefined, '');
  const width = Math.max(...rows.map(([label]) => [...label].length));
  for (const [label, offset, duration] of rows) lines.push(`${label.padEnd(width + (label.length - [...label].length))}  ${offset.padStart(10)}  ${duration.padStart(9)}`);
  return lines.join('\n');
}
