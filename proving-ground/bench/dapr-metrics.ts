/** One Prometheus sample: `name{labels} value`. */
type Samples = Map<string, number>;

export async function scrape(metricsPort: number): Promise<Samples> {
  const samples: Samples = new Map();
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5_000) });
    for (const line of (await res.text()).split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const cut = line.lastIndexOf(' ');
      const value = Number(line.slice(cut + 1));
      if (Number.isFinite(value)) samples.set(line.slice(0, cut), value);
    }
  } catch {
    // A sidecar that does not answer its metrics has nothing to say about this measurement.
  }
  return samples;
}

export interface LatencyFigure {
  /** Metric name and the labels that tell calls apart (method, component, operation...). */
  metric: string;
  count: number;
  meanMs: number;
}

// Labels that only repeat what the sidecar is, or make each series unique without telling us anything.
const NOISY_LABELS = new Set(['app_id', 'namespace', 'src_app_id', 'src_namespace']);

function simplify(series: string): string {
  const open = series.indexOf('{');
  if (open < 0) return series;
  const labels = series
    .slice(open + 1, -1)
    .split(/,(?=[a-z_]+=")/)
    .filter((pair) => pair && !NOISY_LABELS.has(pair.slice(0, pair.indexOf('='))));
  return labels.length ? `${series.slice(0, open)}{${labels.join(',')}}` : series.slice(0, open);
}

/**
 * The mean of every latency histogram that moved between two scrapes: where a sidecar's time went
 * during one measurement (its HTTP server, its calls to the app, to the other sidecar, to Redis).
 */
export function latencyDelta(before: Samples, after: Samples): LatencyFigure[] {
  const figures: LatencyFigure[] = [];
  for (const [series, sumAfter] of after) {
    const name = series.slice(0, series.indexOf('{') < 0 ? undefined : series.indexOf('{'));
    if (!name.endsWith('_sum') || !/latenc|duration|roundtrip/.test(name)) continue;
    const countSeries = series.replace(/_sum(\{|$)/, '_count$1');
    const count = (after.get(countSeries) ?? 0) - (before.get(countSeries) ?? 0);
    if (count <= 0) continue;
    const sum = sumAfter - (before.get(series) ?? 0);
    figures.push({ metric: simplify(series.replace(/_sum(\{|$)/, '$1')), count, meanMs: Math.round((sum / count) * 1000) / 1000 });
  }
  return figures.sort((a, b) => a.metric.localeCompare(b.metric));
}
