import type { BenchResults } from '../bench/bench';

interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: Array<[number, number]>;
}

const WIDTH = 440;
const HEIGHT = 300;
const MARGIN = { left: 64, right: 16, top: 36, bottom: 44 };

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round step for about five ticks between 0 and max. */
function niceStep(max: number): number {
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw || 1));
  const scaled = raw / magnitude;
  return (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10) * magnitude;
}

/** One panel: concurrency on a log2 x axis, the value on a linear y axis from zero. */
function panel(title: string, yLabel: string, series: Series[], levels: number[], offsetX: number): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const logs = levels.map((l) => Math.log2(l));
  const minX = Math.min(...logs);
  const maxX = Math.max(...logs);
  const x = (level: number) => MARGIN.left + (maxX === minX ? plotW / 2 : ((Math.log2(level) - minX) / (maxX - minX)) * plotW);
  const maxY = Math.max(1, ...series.flatMap((s) => s.points.map(([, v]) => v)));
  const step = niceStep(maxY);
  const top = Math.ceil(maxY / step) * step;
  const y = (value: number) => MARGIN.top + plotH - (value / top) * plotH;

  const parts: string[] = [`<g transform="translate(${offsetX},0)">`];
  parts.push(`<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-weight="bold">${escape(title)}</text>`);
  for (let v = 0; v <= top + step / 2; v += step) {
    parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${y(v) + 4}" text-anchor="end">${Number(v.toPrecision(6))}</text>`);
  }
  for (const level of levels) {
    parts.push(`<line x1="${x(level)}" x2="${x(level)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`);
    parts.push(`<text x="${x(level)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${level}</text>`);
  }
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 8}" text-anchor="middle">concurrency (connections)</text>`);
  parts.push(`<text transform="translate(14,${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(yLabel)}</text>`);
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map(([level, v], i) => `${i ? 'L' : 'M'}${x(level).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''}/>`);
    for (const [level, v] of s.points) parts.push(`<circle cx="${x(level).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${s.color}"/>`);
  }
  parts.push('</g>');
  return parts.join('\n');
}

/** Two panels, throughput and p99 against concurrency, for the order path and its ceilings; plain SVG, no dependency. */
export function renderChart(results: BenchResults): string {
  const { orderPath, invokeCeiling, stateCeiling } = results.targets;
  const levels = orderPath.levels.map((l) => l.connections);
  const rps = (levelsOf: typeof orderPath.levels) => levelsOf.map((l): [number, number] => [l.connections, l.rps]);
  const p99 = (levelsOf: typeof orderPath.levels) => levelsOf.map((l): [number, number] => [l.connections, l.p99Ms]);
  const colors = { order: '#d62728', invoke: '#1f77b4', state: '#2ca02c', series: '#7f7f7f' };
  const throughput: Series[] = [
    { label: 'order path', color: colors.order, points: rps(orderPath.levels) },
    { label: '(1) invocation, no-op app', color: colors.invoke, points: rps(invokeCeiling.levels) },
    { label: '(2) state API write', color: colors.state, points: rps(stateCeiling.levels) },
    { label: '(1) and (2) in series', color: colors.series, dashed: true, points: results.seriesCeiling.map((s): [number, number] => [s.connections, s.rps]) },
  ];
  const latency: Series[] = [
    { label: 'order path', color: colors.order, points: p99(orderPath.levels) },
    { label: '(1) invocation, no-op app', color: colors.invoke, points: p99(invokeCeiling.levels) },
    { label: '(2) state API write', color: colors.state, points: p99(stateCeiling.levels) },
  ];
  const legendY = HEIGHT + 10;
  const legend = throughput
    .map((s, i) => {
      const lx = 70 + i * 200;
      return `<line x1="${lx}" x2="${lx + 24}" y1="${legendY}" y2="${legendY}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''}/><text x="${lx + 30}" y="${legendY + 4}">${escape(s.label)}</text>`;
    })
    .join('\n');
  const note = `${results.machine.cores} cores, ${results.machine.cpuModel}; ${results.options.durationSec}s per level; ${results.generatedAt}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH * 2}" height="${HEIGHT + 44}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel('Throughput (2xx/s)', 'requests per second', throughput, levels, 0),
    panel('p99 latency', 'milliseconds', latency, levels, WIDTH),
    legend,
    `<text x="${WIDTH}" y="${HEIGHT + 36}" text-anchor="middle" fill="#666">${escape(note)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
