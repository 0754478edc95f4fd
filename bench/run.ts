/**
 * @module run
 * `npm run bench`: measures Parley against a forwarding relay (and a tRPC-shaped one) in
 * the same invocation and prints one table. Each scenario run gets a fresh server process
 * (Parley from the built `dist/`, SQLite in a temp dir; or a relay) pinned to one CPU and a
 * fresh load-generator process pinned to another, both on loopback. Results go to `bench-results/<timestamp>.json` and `.html`.
 * Method and flags: docs/benchmark.md.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ClientKind, LoadgenJob, Relay } from './ipc.js';
import { connectionCap, roomForConnections } from './descriptors.js';
import { killAll, pinChildren, profileInto, runLoadgen, startServer, type ServerHandle } from './processes.js';
import { collectWarnings, renderHtml, renderTable } from './report.js';
import type {
  BenchOptions,
  BenchResults,
  ConnectionsResult,
  PerRelay,
  LatencyResult,
  Machine,
  ResumeResult,
  ThroughputResult,
  ThroughputSummary,
} from './results.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const allScenarios = ['throughput', 'clients', 'latency', 'connections', 'resume'] as const;
const allRelays: Relay[] = ['parley', 'baseline', 'trpc-relay'];

const usage = `Usage: npm run bench -- [options]

Scenarios (default: all):
  --scenarios=LIST        throughput,clients,latency,connections,resume
                          (clients = the throughput run through @parley/sdk and @trpc/client)
  --relays=LIST           parley,baseline,trpc-relay (default all): baseline is the
                          forwarding relay (parse, look up, forward the frame's bytes),
                          trpc-relay a relay that replies and re-serialises as tRPC would
  --quick                 short everything, for iterating: 50 users, 3 s measured,
                          2 s latency steps, 1,000 connections, 2,000 resumed messages

Throughput:
  --users=N               users, each sending to the next (default 200)
  --window=N              sends in flight per user (default 16)
  --duration=S            measured seconds after warm-up (default 15)
  --warmup=S              warm-up seconds (default 5)
  --rounds=N              repeat the relays (and the two clients) N times, each round
                          in the reverse order of the one before; medians (default 1)

Latency (open loop, lean client, --users senders):
  --rates=LIST            offered msg/s always run (default 1000,5000,10000)
  --search-rates=LIST     then higher rates until p99 passes the limit
                          (default 15000,20000,30000,40000,60000,80000,100000)
  --step-duration=S       measured seconds per rate (default 10)
  --p99-limit=MS          the p99 limit whose crossing is reported (default 50)

Connections and resume:
  --connections=N         idle authenticated subscribers (default 10000)
  --scale-connections=N   then Parley alone with N idle subscribers from several
                          127.0.0.x addresses (default 100000; 0 skips it)
  --resume-messages=N     missed messages to resume (default 10000)

Other:
  --text-bytes=N          message text length (default 100)
  --out=DIR               where results go (default bench-results)
  --data-dir=DIR          where each server's temp data dir is made (default: the OS temp
                          dir); e.g. /dev/shm to take the disk's fsync out of the picture
  --report=FILE           print the table of an earlier run's JSON and rewrite its HTML
  --profile=DIR           every server and load generator writes a V8 CPU profile
                          (node --cpu-prof) into DIR/<nn>-<run>-<server|loadgen>/
  -h, --help`;

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function numbers(text: string, flag: string): number[] {
  const values = list(text).map(Number);
  if (values.length === 0 || values.some((v) => !Number.isFinite(v) || v <= 0)) throw new Error(`${flag} takes positive numbers`);
  return values;
}

function positive(text: string | undefined, fallback: number, flag: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${flag} takes a positive number, not "${text}"`);
  return value;
}

function parseOptions(argv: string[]): BenchOptions | { report: string } | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      quick: { type: 'boolean' },
      scenarios: { type: 'string' },
      relays: { type: 'string' },
      users: { type: 'string' },
      window: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      rates: { type: 'string' },
      'search-rates': { type: 'string' },
      'step-duration': { type: 'string' },
      'p99-limit': { type: 'string' },
      connections: { type: 'string' },
      'scale-connections': { type: 'string' },
      'resume-messages': { type: 'string' },
      'text-bytes': { type: 'string' },
      out: { type: 'string' },
      'data-dir': { type: 'string' },
      profile: { type: 'string' },
      report: { type: 'string' },
    },
  });
  if (values.help) return null;
  if (values.report !== undefined) return { report: resolve(values.report) };
  const quick = values.quick ?? false;
  const scenarios = values.scenarios ? list(values.scenarios) : [...allScenarios];
  for (const s of scenarios) {
    if (!(allScenarios as readonly string[]).includes(s)) throw new Error(`unknown scenario "${s}" (${allScenarios.join(', ')})`);
  }
  const relays = values.relays ? list(values.relays) : [...allRelays];
  for (const r of relays) if (!(allRelays as string[]).includes(r)) throw new Error(`unknown relay "${r}" (${allRelays.join(', ')})`);
  return {
    quick,
    scenarios,
    relays,
    users: Math.round(positive(values.users, quick ? 50 : 200, '--users')),
    window: Math.round(positive(values.window, 16, '--window')),
    durationS: positive(values.duration, quick ? 3 : 15, '--duration'),
    warmupS: positive(values.warmup, quick ? 1 : 5, '--warmup'),
    rounds: Math.round(positive(values.rounds, 1, '--rounds')),
    rates: values.rates ? numbers(values.rates, '--rates') : [1000, 5000, 10000],
    searchRates: values['search-rates']
      ? numbers(values['search-rates'], '--search-rates')
      : quick
        ? [20000, 40000, 80000]
        : [15000, 20000, 30000, 40000, 60000, 80000, 100000],
    stepS: positive(values['step-duration'], quick ? 2 : 10, '--step-duration'),
    stepWarmupS: quick ? 0.5 : 2,
    p99LimitMs: positive(values['p99-limit'], 50, '--p99-limit'),
    connections: Math.round(positive(values.connections, quick ? 1000 : 10000, '--connections')),
    scaleConnections: values['scale-connections'] === '0' ? 0 : Math.round(positive(values['scale-connections'], 100_000, '--scale-connections')),
    resumeMessages: Math.round(positive(values['resume-messages'], quick ? 2000 : 10000, '--resume-messages')),
    textBytes: Math.round(positive(values['text-bytes'], 100, '--text-bytes')),
    out: resolve(repoRoot, values.out ?? 'bench-results'),
    dataDir: resolve(values['data-dir'] ?? tmpdir()),
    profile: values.profile === undefined ? null : resolve(values.profile),
  };
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

/** The type of the filesystem `path` is on, from /proc/mounts (longest matching mount point). */
function filesystemOf(path: string): string {
  try {
    let best = { point: '', type: 'unknown' };
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [, point, type] = line.split(' ');
      if (!point || !type) continue;
      const inside = path === point || path.startsWith(point.endsWith('/') ? point : `${point}/`);
      if (inside && point.length > best.point.length) best = { point, type };
    }
    return best.type;
  } catch {
    return 'unknown';
  }
}

function machineFacts(dataDir: string): Machine {
  const cpu = cpus();
  return {
    cores: cpu.length,
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    node: process.version,
    os: `${platform()} ${release()}`,
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    dataDirFs: filesystemOf(dataDir),
    loadAvgStart: loadavg()[0] ?? 0,
    loadAvgEnd: null,
    commit: git(['rev-parse', '--short', 'HEAD']) || 'unknown',
    dirty: git(['status', '--porcelain', '--', 'server', 'sdk', 'bench']) !== '',
    unpinned: pinChildren(cpu.length),
  };
}

function say(text: string): void {
  process.stderr.write(`${text}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function medianOrNull(values: (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return known.length ? median(known) : null;
}

function summarize(rounds: ThroughputResult[]): ThroughputSummary {
  return {
    deliveredPerSec: median(rounds.map((r) => r.deliveredPerSec)),
    serverCpuUsPerMsg: medianOrNull(rounds.map((r) => r.serverCpuUsPerMsg)),
    serverCpuPct: medianOrNull(rounds.map((r) => r.server?.cpuPct ?? null)),
    loadgenCpuUsPerMsg: median(rounds.map((r) => r.loadgenCpuUsPerMsg)),
    loadgenCpuPct: median(rounds.map((r) => r.loadgenCpuPct)),
    p50Ms: median(rounds.map((r) => r.latency.p50Ms)),
    p99Ms: median(rounds.map((r) => r.latency.p99Ms)),
    gcMsPerSec: medianOrNull(rounds.map((r) => (r.server ? r.server.gcMs / r.seconds : null))),
    serverElu: medianOrNull(rounds.map((r) => r.server?.elu ?? null)),
    serverWaiting: medianOrNull(rounds.map((r) => r.server?.mainThread.waiting ?? null)),
    loadgenWaiting: median(rounds.map((r) => r.loadgenMainThread.waiting)),
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseOptions(argv);
  if (!options) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  if ('report' in options) {
    // Re-render the table and chart of an earlier run (e.g. after a change to report.ts).
    const earlier = JSON.parse(readFileSync(options.report, 'utf8')) as BenchResults;
    const table = renderTable(earlier);
    const htmlFile = options.report.replace(/\.json$/, '') + '.html';
    writeFileSync(htmlFile, renderHtml(earlier, table));
    process.stdout.write(`${table}\n\nChart: ${htmlFile}\n`);
    return;
  }
  const jwtSecret = randomBytes(32).toString('base64url');
  const startedAt = new Date();
  const results: BenchResults = {
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: null,
    command: ['npm run bench --', ...argv].join(' '),
    machine: machineFacts(options.dataDir),
    options,
    serverLogs: [],
    errors: [],
    warnings: [],
  };
  const o = options;
  if (o.profile) profileInto(o.profile);
  const relays = o.relays as Relay[];
  const common = (relay: Relay, url: string) => ({ relay, url, jwtSecret, textBytes: o.textBytes });
  const has = (s: (typeof allScenarios)[number]) => o.scenarios.includes(s);

  /** One scenario run: a fresh server, a fresh load generator, both stopped after. */
  async function measure<T>(
    what: string,
    relay: Relay,
    job: (server: ServerHandle) => LoadgenJob,
    timeoutS: number,
    env: Record<string, string> = {},
  ): Promise<T | undefined> {
    say(`▶ ${what}`);
    let server: ServerHandle | null = null;
    try {
      server = await startServer(relay, { jwtSecret, dataDir: o.dataDir, env }, what);
      return (await runLoadgen(job(server), server, timeoutS * 1000, what)) as T;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      say(`  ✗ ${what}: ${message}`);
      results.errors.push({ what, message });
      return undefined;
    } finally {
      if (server) {
        const { logBytes, logTail } = await server.stop();
        if (logBytes > 0) results.serverLogs.push({ what, bytes: logBytes, tail: logTail });
      }
    }
  }

  const throughputJob = (relay: Relay, client: ClientKind) => (s: ServerHandle): LoadgenJob => ({
    scenario: 'throughput',
    client,
    ...common(relay, s.url),
    users: o.users,
    window: o.window,
    warmupS: o.warmupS,
    durationS: o.durationS,
  });
  const throughputTimeout = o.warmupS + o.durationS + 120;

  if (has('throughput')) {
    const rounds: PerRelay<ThroughputResult[]> = {};
    // Each round runs the relays in the reverse order of the one before, so a drift of the
    // machine during the run weighs on all of them.
    for (let round = 1; round <= o.rounds; round++) {
      for (const relay of round % 2 === 1 ? relays : [...relays].reverse()) {
        const label = `throughput ${relay}${o.rounds > 1 ? ` (round ${round}/${o.rounds})` : ''}`;
        const r = await measure<ThroughputResult>(label, relay, throughputJob(relay, 'lean'), throughputTimeout);
        if (r) (rounds[relay] ??= []).push(r);
      }
    }
    const summary: PerRelay<ThroughputSummary> = {};
    for (const relay of relays) {
      const done = rounds[relay];
      if (done) summary[relay] = summarize(done);
    }
    results.throughput = { rounds, summary };
  }

  if (has('clients') && relays.includes('parley')) {
    results.clients = {};
    // Interleaved rounds, each client first in turn, so a drift of the machine during the
    // run weighs on both; each row is the round with the median client CPU per message.
    const byClient: Record<'sdk' | 'trpc', ThroughputResult[]> = { sdk: [], trpc: [] };
    for (let round = 0; round < o.rounds; round++) {
      const order = round % 2 === 0 ? (['sdk', 'trpc'] as const) : (['trpc', 'sdk'] as const);
      for (const client of order) {
        const label = `throughput parley via ${client} client${o.rounds > 1 ? ` (round ${round + 1})` : ''}`;
        const r = await measure<ThroughputResult>(label, 'parley', throughputJob('parley', client), throughputTimeout);
        if (r) byClient[client].push(r);
      }
    }
    for (const client of ['sdk', 'trpc'] as const) {
      const sorted = [...byClient[client]].sort((a, b) => a.loadgenCpuUsPerMsg - b.loadgenCpuUsPerMsg);
      const mid = sorted[Math.floor((sorted.length - 1) / 2)];
      if (mid) results.clients[client] = mid;
    }
  }

  if (has('latency')) {
    results.latency = {};
    const steps = o.rates.length + o.searchRates.length + 3;
    const timeoutS = 120 + steps * (o.stepWarmupS + o.stepS + Math.max(10, o.stepS) + 2);
    for (const relay of relays) {
      const r = await measure<LatencyResult>(
        `latency ${relay}`,
        relay,
        (s) => ({
          scenario: 'latency',
          ...common(relay, s.url),
          users: o.users,
          rates: o.rates,
          searchRates: o.searchRates,
          bisectSteps: 2,
          stepS: o.stepS,
          stepWarmupS: o.stepWarmupS,
          p99LimitMs: o.p99LimitMs,
          maxOutstanding: 200_000,
        }),
        timeoutS,
      );
      if (r) results.latency[relay] = r;
    }
  }

  // A source address has about 28,000 ephemeral ports; port searches slow down long before
  // they run short, so 1,000 connections each (at most 250 addresses, a /24).
  const sourceAddressesFor = (n: number) => Math.min(250, Math.max(1, Math.ceil(n / 1000)));
  let sourceSubnet = 0;
  const nextSourceSubnet = () => (sourceSubnet = (sourceSubnet % 250) + 1);

  if (has('connections')) {
    results.connections = {};
    for (const relay of relays) {
      const r = await measure<ConnectionsResult>(
        `connections ${relay}`,
        relay,
        (s) => ({
          scenario: 'connections',
          ...common(relay, s.url),
          connections: o.connections,
          concurrency: 200,
          sourceAddresses: sourceAddressesFor(o.connections),
          sourceSubnet: nextSourceSubnet(),
          idleS: o.quick ? 1 : 3,
        }),
        180 + o.connections / 50,
      );
      if (r) results.connections[relay] = r;
    }
  }

  if (has('connections') && relays.includes('parley') && o.scaleConnections > 0) {
    const n = o.scaleConnections;
    const notRun = roomForConnections(n);
    if (notRun !== null) {
      say(`▶ connections parley at ${n}: not run: ${notRun}`);
      results.scale = { result: null, notRun };
    } else {
      const r = await measure<ConnectionsResult>(
        `connections parley at ${n}`,
        'parley',
        (s) => ({
          scenario: 'connections',
          ...common('parley', s.url),
          connections: n,
          concurrency: 200,
          sourceAddresses: sourceAddressesFor(n),
          sourceSubnet: nextSourceSubnet(),
          idleS: 3,
        }),
        300 + n / 50,
        { PARLEY_MAX_CONNECTIONS: String(connectionCap(n)) },
      );
      results.scale = { result: r ?? null, notRun: r ? null : 'the run failed (see errors)' };
    }
  }

  if (has('resume') && relays.includes('parley')) {
    const r = await measure<ResumeResult>(
      'resume parley',
      'parley',
      (s) => ({ scenario: 'resume', ...common('parley', s.url), messages: o.resumeMessages, repeats: 3 }),
      300 + o.resumeMessages / 100,
    );
    if (r) results.resume = { parley: r };
  }

  results.machine.loadAvgEnd = loadavg()[0] ?? null;
  results.finishedAt = new Date().toISOString();
  results.warnings = collectWarnings(results);
  for (const log of results.serverLogs) results.warnings.push(`${log.what}: the server wrote ${log.bytes} bytes of log (see the JSON)`);

  const table = renderTable(results);
  mkdirSync(o.out, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const jsonFile = join(o.out, `${stamp}.json`);
  const htmlFile = join(o.out, `${stamp}.html`);
  writeFileSync(jsonFile, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(htmlFile, renderHtml(results, table));
  process.stdout.write(`\n${table}\n\nResults: ${jsonFile}\nChart:   ${htmlFile}\n`);
  if (results.errors.length > 0) process.exitCode = 1;
}

let interrupted = false;
const onSignal = (signal: NodeJS.Signals) => {
  if (interrupted) return;
  interrupted = true;
  say(`bench: ${signal}, stopping every child process`);
  killAll();
  process.exit(130);
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
process.once('exit', killAll);

main().then(
  () => killAll(),
  (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    killAll();
    process.exitCode = 1;
  },
);
