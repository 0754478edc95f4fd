/**
 * @module report
 * Turns a bench run's results into the printed table (Markdown, so it can go into the
 * README as is) and a self-contained HTML page with an SVG chart of latency percentiles
 * against offered rate, Parley against the forwarding relay.
 */
import type { BenchResults, LatencyResult, LatencyStepResult, ThroughputResult } from './results.js';

// ---------------------------------------------------------------------------------------
// Number formatting.

const dash = '—';

function num(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return dash;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Milliseconds with precision that suits their size. */
function ms(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return dash;
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);
}

function ratio(a: number | null | undefined, b: number | null | undefined): string {
  if (a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return dash;
  }
  const r = a / b;
  return `${r < 10 ? r.toFixed(2) : r.toFixed(1)}×`;
}

const pct = (share: number | null | undefined) => (share === null || share === undefined ? dash : num(share * 100));

const kib = (bytes: number | null | undefined) => (bytes === null || bytes === undefined ? null : bytes / 1024);

function pcts(step: LatencyStepResult | undefined): string {
  if (!step) return dash;
  const mark = step.overloaded ? ' (overloaded)' : '';
  return `${ms(step.latency.p50Ms)} / ${ms(step.latency.p99Ms)} / ${ms(step.latency.p999Ms)}${mark}`;
}

function crossing(result: LatencyResult | undefined): string {
  if (!result) return dash;
  const { lastUnderPerSec, firstOverPerSec } = result.p99Crossing;
  if (firstOverPerSec === null) return `> ${num(lastUnderPerSec)} (not reached)`;
  if (lastUnderPerSec === 0) return `< ${num(firstOverPerSec)}`;
  return `${num(lastUnderPerSec)}–${num(firstOverPerSec)}`;
}

// ---------------------------------------------------------------------------------------
// The table.

type Row = [string, string, string, string, string];

/** Above this CPU share the load generator, not the server, may be what limits a run. */
export const generatorBusyLimitPct = 80;

/** A run's load generator was too busy for its figures to stand in a ratio. */
const tooBusy = (...loadgenCpuPcts: (number | null | undefined)[]) =>
  loadgenCpuPcts.find((p) => p !== null && p !== undefined && p > generatorBusyLimitPct);

/** `ratio`, or VOID when either side's load generator was more than 80% busy. */
function fairRatio(a: number | null | undefined, b: number | null | undefined, ...loadgenCpuPcts: (number | null | undefined)[]): string {
  const busy = tooBusy(...loadgenCpuPcts);
  return busy === undefined ? ratio(a, b) : `VOID (generator ${num(busy)}% busy)`;
}

export function machineLine(results: BenchResults): string {
  const m = results.machine;
  const pinning = m.unpinned === undefined || m.unpinned === null ? 'servers pinned to CPU 0, load generator to CPU 1 (taskset)' : m.unpinned;
  return (
    `${m.cores} cores (${m.cpuModel}), Node ${m.node}, ${m.os}, ${Math.round(m.memoryMiB / 1024)} GiB, ` +
    `SQLite data on ${m.dataDirFs}; ${pinning}; ` +
    `load average ${m.loadAvgStart.toFixed(2)} at start, ${m.loadAvgEnd?.toFixed(2) ?? dash} at end; ` +
    `commit ${m.commit}${m.dirty ? ' + uncommitted changes' : ''}`
  );
}

export function renderTable(results: BenchResults): string {
  const o = results.options;
  const rows: Row[] = [];
  const tp = results.throughput;
  const p = tp?.summary.parley;
  const b = tp?.summary.baseline;
  const t = tp?.summary['trpc-relay'];
  if (tp) {
    const label = `throughput (${o.users} users × ${o.window} in flight, ${o.durationS} s${o.rounds > 1 ? `, median of ${o.rounds}` : ''})`;
    const busy = [p?.loadgenCpuPct, b?.loadgenCpuPct] as const;
    rows.push([`${label}: delivered msg/s`, num(p?.deliveredPerSec), num(b?.deliveredPerSec), fairRatio(p?.deliveredPerSec, b?.deliveredPerSec, ...busy), num(t?.deliveredPerSec)]);
    rows.push(['throughput: server CPU µs per message', num(p?.serverCpuUsPerMsg, 1), num(b?.serverCpuUsPerMsg, 1), fairRatio(p?.serverCpuUsPerMsg, b?.serverCpuUsPerMsg, ...busy), num(t?.serverCpuUsPerMsg, 1)]);
    rows.push(['throughput: server CPU busy %', num(p?.serverCpuPct), num(b?.serverCpuPct), dash, num(t?.serverCpuPct)]);
    rows.push(['throughput: load generator CPU µs per message', num(p?.loadgenCpuUsPerMsg, 1), num(b?.loadgenCpuUsPerMsg, 1), dash, num(t?.loadgenCpuUsPerMsg, 1)]);
    rows.push(['throughput: load generator CPU busy %', num(p?.loadgenCpuPct), num(b?.loadgenCpuPct), dash, num(t?.loadgenCpuPct)]);
    rows.push(['throughput: p50 / p99 ms at saturation', `${ms(p?.p50Ms)} / ${ms(p?.p99Ms)}`, `${ms(b?.p50Ms)} / ${ms(b?.p99Ms)}`, fairRatio(p?.p99Ms, b?.p99Ms, ...busy), `${ms(t?.p50Ms)} / ${ms(t?.p99Ms)}`]);
    rows.push(['throughput: server GC pause ms per s', num(p?.gcMsPerSec, 1), num(b?.gcMsPerSec, 1), dash, num(t?.gcMsPerSec, 1)]);
    const loop = (s: typeof p) => (s ? `${pct(s.serverElu)} / ${pct(s.serverWaiting)}` : dash);
    rows.push(['throughput: server event loop busy % / waiting for a CPU %', loop(p), loop(b), dash, loop(t)]);
  }
  const lat = results.latency;
  if (lat) {
    const rates = new Set<number>(o.rates);
    for (const rate of rates) {
      const ps = lat.parley?.steps.find((s) => s.offeredPerSec === rate);
      const bs = lat.baseline?.steps.find((s) => s.offeredPerSec === rate);
      const ts = lat['trpc-relay']?.steps.find((s) => s.offeredPerSec === rate);
      rows.push([`latency at ${num(rate)} msg/s: p50 / p99 / p99.9 ms`, pcts(ps), pcts(bs), fairRatio(ps?.latency.p99Ms, bs?.latency.p99Ms, ps?.loadgenCpuPct, bs?.loadgenCpuPct), pcts(ts)]);
    }
    rows.push([`latency: offered msg/s where p99 passes ${o.p99LimitMs} ms`, crossing(lat.parley), crossing(lat.baseline), dash, crossing(lat['trpc-relay'])]);
  }
  const conn = results.connections;
  if (conn) {
    const pc = conn.parley;
    const bc = conn.baseline;
    const tc = conn['trpc-relay'];
    const label = `connections (${num(o.connections)} idle subscribers)`;
    rows.push([`${label}: established`, num(pc?.established), num(bc?.established), dash, num(tc?.established)]);
    rows.push(['connections: set up per second', num(pc?.setupPerSec), num(bc?.setupPerSec), ratio(pc?.setupPerSec, bc?.setupPerSec), num(tc?.setupPerSec)]);
    rows.push(['connections: server RSS KiB per connection', num(kib(pc?.rssPerConn), 1), num(kib(bc?.rssPerConn), 1), ratio(pc?.rssPerConn, bc?.rssPerConn), num(kib(tc?.rssPerConn), 1)]);
    rows.push(['connections: server JS heap KiB per connection', num(kib(pc?.heapPerConn), 1), num(kib(bc?.heapPerConn), 1), ratio(pc?.heapPerConn, bc?.heapPerConn), num(kib(tc?.heapPerConn), 1)]);
  }
  const scale = results.scale?.result;
  if (scale) {
    const label = `connections on one node (${num(o.scaleConnections)} idle subscribers)`;
    rows.push([`${label}: established`, num(scale.established), dash, dash, dash]);
    rows.push([`${label}: set up per second`, num(scale.setupPerSec), dash, dash, dash]);
    const mib = (bytes: number | undefined) => (bytes === undefined ? dash : num(bytes / 2 ** 20));
    rows.push([`${label}: server RSS / JS heap MiB`, `${mib(scale.after?.rss)} / ${mib(scale.after?.heapUsed)}`, dash, dash, dash]);
    rows.push([`${label}: server RSS KiB per connection`, num(kib(scale.rssPerConn), 1), dash, dash, dash]);
  }
  const res = results.resume?.parley;
  if (res) {
    rows.push([`resume: ${num(res.messages)} missed messages, ms until all arrived (median of ${res.runs.length})`, ms(res.medianMs), dash, dash, dash]);
    if (res.reconnects > 0) rows.push(['resume: times the server closed the socket mid-replay (most in one run)', num(res.reconnects), dash, dash, dash]);
  }
  const clients = results.clients;
  if (clients) {
    for (const [name, r] of [
      ['@parley/sdk client', clients.sdk],
      ['official @trpc/client', clients.trpc],
    ] as const) {
      if (!r) continue;
      rows.push([`throughput via ${name}: delivered msg/s`, num(r.deliveredPerSec), dash, dash, dash]);
      rows.push([`throughput via ${name}: client CPU µs per message`, num(r.loadgenCpuUsPerMsg, 1), dash, dash, dash]);
      rows.push([`throughput via ${name}: server CPU µs per message`, num(r.serverCpuUsPerMsg, 1), dash, dash, dash]);
    }
  }

  const header: Row = ['metric', 'Parley', 'forwarding relay', 'Parley / forwarding relay', 'tRPC-shaped relay'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: Row) => `| ${r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  const out = [line(header), rule, ...rows.map(line)];
  out.push('', `Machine: ${machineLine(results)}`);
  if (results.scale?.notRun) out.push(`Not run: ${num(o.scaleConnections)} idle subscribers on one node: ${results.scale.notRun}`);
  const targets = targetLines(results);
  if (targets.length > 0) out.push('', 'Targets of issue 12, from this run (ratios against the forwarding relay):', ...targets);
  for (const e of results.errors) out.push(`FAILED ${e.what}: ${e.message.split('\n')[0]}`);
  for (const w of results.warnings) out.push(`note: ${w}`);
  return out.join('\n');
}

/** The issue's targets, each with ✓ or ✗ and the figure, for what this run measured. */
function targetLines(results: BenchResults): string[] {
  const lines: string[] = [];
  const mark = (ok: boolean, text: string) => lines.push(`  ${ok ? '✓' : '✗'} ${text}`);
  const tp = results.throughput?.summary;
  if (tp?.parley && tp.baseline) {
    const r = tp.parley.deliveredPerSec / tp.baseline.deliveredPerSec;
    const busy = tooBusy(tp.parley.loadgenCpuPct, tp.baseline.loadgenCpuPct);
    if (busy === undefined) mark(r >= 0.4, `throughput ≥ 0.4× the forwarding relay: ${r.toFixed(2)}×`);
    else lines.push(`  VOID throughput ≥ 0.4× the forwarding relay: a load generator was ${num(busy)}% busy`);
  }
  const at5k = results.latency?.parley?.steps.find((s) => s.offeredPerSec === 5000);
  if (at5k) mark(!at5k.overloaded && at5k.latency.p99Ms <= 10, `p99 at 5,000 msg/s offered ≤ 10 ms: ${ms(at5k.latency.p99Ms)} ms${at5k.overloaded ? ' (overloaded)' : ''}`);
  const c = results.connections;
  if (c?.parley?.rssPerConn && c.baseline?.rssPerConn) {
    const r = c.parley.rssPerConn / c.baseline.rssPerConn;
    mark(r <= 2, `RSS per idle connection ≤ 2× the forwarding relay's (at ${num(results.options.connections)}): ${r.toFixed(2)}×`);
  }
  if (c?.parley?.setupPerSec && c.baseline?.setupPerSec) {
    const r = c.parley.setupPerSec / c.baseline.setupPerSec;
    mark(r >= 0.5, `connection set-up ≥ 0.5× the forwarding relay's rate: ${r.toFixed(2)}×`);
  }
  const sdk = results.clients?.sdk;
  const trpc = results.clients?.trpc;
  if (sdk && trpc) {
    mark(sdk.loadgenCpuUsPerMsg <= trpc.loadgenCpuUsPerMsg, `SDK client CPU per message ≤ the official client's: ${num(sdk.loadgenCpuUsPerMsg, 1)} vs ${num(trpc.loadgenCpuUsPerMsg, 1)} µs`);
  }
  const resume = results.resume?.parley;
  if (resume && resume.medianMs !== null) {
    const note = resume.messages === 10000 ? '' : ` (${num(resume.messages)} messages; the target is for 10,000)`;
    mark(resume.medianMs < 1000, `resume of 10,000 missed messages < 1 s: ${ms(resume.medianMs)} ms${note}`);
  }
  return lines;
}

/** Who a pinned main thread waits for: other work, or (Parley) its own SQLite writer thread, pinned to the same CPU. */
const cpuRivals = "other threads on its CPU: Parley's own SQLite writer, or other work on the machine";

/** Lines that flag numbers not to trust (a saturated generator, lost messages, noise). */
export function collectWarnings(results: BenchResults): string[] {
  const warnings: string[] = [];
  const check = (what: string, r: ThroughputResult | undefined) => {
    if (!r) return;
    if (r.loadgenCpuPct > generatorBusyLimitPct) warnings.push(`${what}: the load generator was ${r.loadgenCpuPct.toFixed(0)}% busy, so this is limited by the generator, not the server (a ratio from it is VOID)`);
    if (r.errors > 0) warnings.push(`${what}: ${r.errors} sends failed (first: ${r.firstError})`);
    if (r.lost > 0) warnings.push(`${what}: ${r.lost} acknowledged messages were not delivered within 10 s`);
    if (r.outOfOrder > 0) warnings.push(`${what}: ${r.outOfOrder} messages arrived out of seq order`);
    if (r.subscriptionFailures > 0) warnings.push(`${what}: ${r.subscriptionFailures} subscriptions ended with an error`);
    const waiting = Math.max(r.server?.mainThread.waiting ?? 0, r.loadgenMainThread.waiting);
    if (waiting > 0.1) {
      warnings.push(`${what}: a main thread waited for a CPU ${(waiting * 100).toFixed(0)}% of the time (${cpuRivals}): CPU µs per message and rates are inflated/deflated`);
    }
  };
  for (const [relay, rounds] of Object.entries(results.throughput?.rounds ?? {})) rounds.forEach((r, i) => check(`throughput ${relay} round ${i + 1}`, r));
  check('throughput via SDK', results.clients?.sdk);
  check('throughput via @trpc/client', results.clients?.trpc);
  for (const [relay, lat] of Object.entries(results.latency ?? {})) {
    for (const s of (lat as LatencyResult | undefined)?.steps ?? []) {
      if (s.loadgenCpuPct > 90) warnings.push(`latency ${relay} at ${s.offeredPerSec}/s: load generator ${s.loadgenCpuPct.toFixed(0)}% busy (send lag p99 ${ms(s.sendLag.p99Ms)} ms)`);
      if ((s.serverWaiting ?? 0) > 0.1) warnings.push(`latency ${relay} at ${s.offeredPerSec}/s: the server waited for a CPU ${((s.serverWaiting ?? 0) * 100).toFixed(0)}% of the time (${cpuRivals})`);
    }
  }
  for (const run of results.resume?.parley?.runs ?? []) {
    if (run.reconnects > 0) {
      warnings.push(`resume: the server closed the socket ${run.reconnects} times during the replay (${run.closes[0] ?? ''}); the time includes the client's reconnects`);
      break;
    }
  }
  for (const [relay, c] of Object.entries(results.connections ?? {})) {
    if (!c) continue;
    if (c.failures > 0) warnings.push(`connections ${relay}: ${c.failures} connections failed (first: ${c.firstError})`);
    if (c.dropped > 0) warnings.push(`connections ${relay}: ${c.dropped} idle subscriptions were ended by the server`);
  }
  const m = results.machine;
  const busy = Math.max(m.loadAvgStart, m.loadAvgEnd ?? 0);
  if (busy > m.cores * 0.5 + 1.5) warnings.push(`the machine was busy with other work (load average up to ${busy.toFixed(1)}); absolute numbers are low, ratios less affected`);
  return warnings;
}

// ---------------------------------------------------------------------------------------
// The chart.

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const series = [
  { key: 'p50Ms', label: 'p50', color: '#1f77b4' },
  { key: 'p99Ms', label: 'p99', color: '#d62728' },
  { key: 'p999Ms', label: 'p99.9', color: '#7b3fb0' },
] as const;

export function renderChartSvg(results: BenchResults): string {
  const width = 820;
  const height = 460;
  const m = { left: 70, right: 190, top: 30, bottom: 55 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const relays = (['parley', 'baseline'] as const).filter((r) => results.latency?.[r]);
  const steps = relays.flatMap((r) => results.latency?.[r]?.steps ?? []);
  if (steps.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="60"><text x="10" y="30">No latency results.</text></svg>`;

  const rates = steps.map((s) => s.offeredPerSec);
  const values = steps.flatMap((s) => series.map((k) => s.latency[k.key])).filter((v) => v > 0);
  const xMin = Math.min(...rates) / 1.3;
  const xMax = Math.max(...rates) * 1.3;
  const yMin = Math.max(0.01, Math.min(...values, results.options.p99LimitMs) / 2);
  const yMax = Math.max(...values, results.options.p99LimitMs) * 2;
  const lx = (v: number) => Math.log10(v);
  const x = (v: number) => m.left + ((lx(v) - lx(xMin)) / (lx(xMax) - lx(xMin))) * plotW;
  const y = (v: number) => m.top + plotH - ((lx(Math.max(v, yMin)) - lx(yMin)) / (lx(yMax) - lx(yMin))) * plotH;

  const parts: string[] = [];
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="#fff" stroke="#999"/>`);
  // Decade grid lines with 1-2-5 ticks.
  for (let d = Math.floor(lx(xMin)); d <= Math.ceil(lx(xMax)); d++) {
    for (const f of [1, 2, 5]) {
      const v = f * 10 ** d;
      if (v < xMin || v > xMax) continue;
      parts.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${m.top}" y2="${m.top + plotH}" stroke="#eee"/>`);
      parts.push(`<text x="${x(v)}" y="${m.top + plotH + 18}" text-anchor="middle" font-size="11">${v >= 1000 ? `${v / 1000}k` : v}</text>`);
    }
  }
  for (let d = Math.floor(lx(yMin)); d <= Math.ceil(lx(yMax)); d++) {
    for (const f of [1, 2, 5]) {
      const v = f * 10 ** d;
      if (v < yMin || v > yMax) continue;
      parts.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`);
      parts.push(`<text x="${m.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${v < 1 ? v.toFixed(2).replace(/0+$/, '') : v}</text>`);
    }
  }
  const limit = results.options.p99LimitMs;
  parts.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${y(limit)}" y2="${y(limit)}" stroke="#888" stroke-dasharray="2,3"/>`);
  parts.push(`<text x="${m.left + plotW - 4}" y="${y(limit) - 4}" text-anchor="end" font-size="11" fill="#666">${limit} ms</text>`);

  for (const relay of relays) {
    const relaySteps = [...(results.latency?.[relay]?.steps ?? [])].sort((a, b) => a.offeredPerSec - b.offeredPerSec);
    const dashArray = relay === 'baseline' ? ' stroke-dasharray="6,4"' : '';
    for (const s of series) {
      const points = relaySteps.map((st) => `${x(st.offeredPerSec).toFixed(1)},${y(st.latency[s.key]).toFixed(1)}`);
      parts.push(`<polyline points="${points.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${dashArray}/>`);
      for (const st of relaySteps) {
        const fill = st.overloaded ? '#fff' : s.color;
        const title = `${relay} ${s.label} at ${st.offeredPerSec} msg/s: ${ms(st.latency[s.key])} ms${st.overloaded ? ' (overloaded)' : ''}`;
        const cx = x(st.offeredPerSec).toFixed(1);
        const cy = y(st.latency[s.key]).toFixed(1);
        parts.push(
          relay === 'parley'
            ? `<circle cx="${cx}" cy="${cy}" r="4" fill="${fill}" stroke="${s.color}" stroke-width="1.5"><title>${title}</title></circle>`
            : `<rect x="${Number(cx) - 3.5}" y="${Number(cy) - 3.5}" width="7" height="7" fill="${fill}" stroke="${s.color}" stroke-width="1.5"><title>${title}</title></rect>`,
        );
      }
    }
  }
  // Legend.
  let ly = m.top + 10;
  const lx0 = m.left + plotW + 20;
  for (const relay of relays) {
    parts.push(`<text x="${lx0}" y="${ly}" font-size="12" font-weight="bold">${relay === 'parley' ? 'Parley (solid, ●)' : 'forwarding relay (dashed, ■)'}</text>`);
    ly += 18;
    for (const s of series) {
      parts.push(`<line x1="${lx0}" x2="${lx0 + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${relay === 'baseline' ? ' stroke-dasharray="6,4"' : ''}/>`);
      parts.push(`<text x="${lx0 + 34}" y="${ly}" font-size="12">${s.label}</text>`);
      ly += 17;
    }
    ly += 10;
  }
  parts.push(`<text x="${lx0}" y="${ly}" font-size="11" fill="#666">hollow: overloaded step</text>`);
  parts.push(`<text x="${m.left + plotW / 2}" y="${height - 12}" text-anchor="middle" font-size="12">offered rate, messages/s (open loop, log scale)</text>`);
  parts.push(`<text transform="translate(16,${m.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">send → receive latency, ms (log scale)</text>`);
  parts.push(`<text x="${m.left}" y="18" font-size="13" font-weight="bold">Latency percentiles against offered rate: Parley vs forwarding relay</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">${parts.join('')}</svg>`;
}

export function renderHtml(results: BenchResults, table: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parley benchmark ${escapeHtml(results.startedAt)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px}pre{font-size:12px;background:#f6f6f6;padding:1rem;overflow-x:auto}</style>
</head><body>
<h1>Parley benchmark</h1>
<p>${escapeHtml(results.startedAt)} · ${escapeHtml(machineLine(results))}</p>
${renderChartSvg(results)}
<pre>${escapeHtml(table)}</pre>
<p>Command: <code>${escapeHtml(results.command)}</code>. Method: docs/benchmark.md.</p>
</body></html>
`;
}
