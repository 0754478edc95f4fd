/**
 * @module loadgen
 * The load generator: a process of its own, forked by the orchestrator for one scenario
 * run against one relay. It asks the orchestrator (over IPC) for a sample of the server's
 * CPU time and memory at the edges of its measured window, and sends back one result.
 *
 * Every message's text starts with its send time (µs on this process's monotonic clock),
 * padded to `textBytes`, so the receiver (in this same process) measures send→receive.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { SignJWT } from 'jose';
import hdr from 'hdr-histogram-js';
import superjson from 'superjson';
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import { createParleyClient } from '@parley/sdk';
import type { AppRouter } from '../server/index.js';
import type {
  ClientKind,
  CommonJob,
  ConnectionParams,
  LatencyParams,
  LoadgenJob,
  LoadgenReply,
  LoadgenRequest,
  ResumeParams,
  ServerSample,
  ThreadShares,
  ThroughputParams,
} from './ipc.js';
import { repliesToSends } from './ipc.js';
import { readSchedStat, type SchedStat } from './schedstat.js';
import { WireConnection, assertPlainText, type WireHandlers } from './wire.js';

// ---------------------------------------------------------------------------------------
// Plumbing: IPC with the orchestrator, clocks, histograms, tokens.

function reply(message: LoadgenReply): void {
  process.send?.(message);
}

let nextProbe = 1;
const probes = new Map<number, (sample: ServerSample | null) => void>();

/** A sample of the server process, taken by the orchestrator; `gc` collects first. */
function probe(gc = false): Promise<ServerSample | null> {
  const reqId = nextProbe++;
  return new Promise((resolve) => {
    probes.set(reqId, resolve);
    reply({ type: 'probe', reqId, gc });
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const nowUs = () => Math.round(performance.now() * 1000);
const cpuUs = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** Shares of `elapsedMs` this process's main thread spent on a CPU and waiting for one. */
function shares(a: SchedStat, b: SchedStat, elapsedMs: number): ThreadShares {
  const ns = elapsedMs * 1e6;
  return { running: (b.runNs - a.runNs) / ns, waiting: (b.waitNs - a.waitNs) / ns };
}

function progress(text: string): void {
  process.stderr.write(`  · ${text}\n`);
}

/** Waits until `done()` holds, polling every 20 ms; false after `timeoutMs`. */
async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** Latencies in µs, 1 µs … 5 min, 3 significant digits. */
function histogram() {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 300_000_000, numberOfSignificantValueDigits: 3 });
}
type Histogram = ReturnType<typeof histogram>;

export interface Percentiles {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

function percentiles(h: Histogram): Percentiles {
  const ms = (p: number) => h.getValueAtPercentile(p) / 1000;
  return { count: h.totalCount, p50Ms: ms(50), p90Ms: ms(90), p99Ms: ms(99), p999Ms: ms(99.9), maxMs: h.maxValue / 1000 };
}

async function signTokens(secret: string, users: string[]): Promise<string[]> {
  const key = new TextEncoder().encode(secret);
  const exp = Math.floor(Date.now() / 1000) + 4 * 3600;
  return Promise.all(
    users.map((user) =>
      new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(user).setExpirationTime(exp).sign(key),
    ),
  );
}

/** Runs `task(i)` for i < count, at most `limit` at a time; rejects on the first failure. */
async function pool(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

/** Text of `textBytes` characters starting with the send time; needs no JSON escaping. */
function stampText(job: CommonJob) {
  const width = Math.max(job.textBytes, 24);
  return (sentUs: number) => `${sentUs} `.padEnd(width, 'x');
}

/** The send time a text carries (parseInt stops at the space). */
const sentAt = (text: string) => parseInt(text, 10);

function serverDelta(s0: ServerSample | null, s1: ServerSample | null) {
  if (!s0 || !s1) return null;
  const elapsedMs = s1.at - s0.at;
  return {
    cpuUs: s1.cpuUs - s0.cpuUs,
    cpuPct: ((s1.cpuUs - s0.cpuUs) / 1000 / elapsedMs) * 100,
    gcCount: s1.gcCount - s0.gcCount,
    gcMs: s1.gcMs - s0.gcMs,
    /** Event-loop utilization: busy share of wall time, including time blocked in sync calls (fsync). */
    elu: (s1.eluActive - s0.eluActive) / (s1.eluActive - s0.eluActive + s1.eluIdle - s0.eluIdle),
    mainThread: shares(
      { runNs: s0.mainRunNs, waitNs: s0.mainWaitNs },
      { runNs: s1.mainRunNs, waitNs: s1.mainWaitNs },
      elapsedMs,
    ),
    rss: s1.rss,
    heapUsed: s1.heapUsed,
  };
}

// ---------------------------------------------------------------------------------------
// Clients: the lean wire client, the Parley SDK, and the official tRPC client, behind one
// small interface so the throughput loop is the same for all three.

interface Sink {
  onMessage(i: number, seq: number, text: string): void;
  onReply(i: number, error: string | null): void;
  /** A subscription that ended with an error after it had started. */
  onFailure(i: number, error: string): void;
}

interface Endpoint {
  send(text: string): void;
  close(): Promise<void>;
}

type Connect = (i: number, user: string, token: string, to: string, sink: Sink) => Promise<Endpoint>;

function errorText(error: unknown): string {
  const data = (error as { data?: { code?: string } }).data;
  const message = error instanceof Error ? error.message : String(error);
  return data?.code ? `${data.code}: ${message}` : message;
}

const connectLean =
  (url: string): Connect =>
  async (i, user, token, to, sink) => {
    const handlers: WireHandlers = {
      onMessage: (_c, seq, text) => sink.onMessage(i, seq, text),
      onReply: (_c, error) => sink.onReply(i, error),
      onFailure: (_c, error) => sink.onFailure(i, error),
    };
    const conn = await WireConnection.open(url, user, token, handlers);
    conn.sendTo(to);
    await conn.subscribe();
    return {
      send: (text) => conn.send(text),
      close: async () => conn.close(),
    };
  };

/** The shape both typed clients share for the two procedures the bench uses. */
interface TypedClient {
  sendToUser: { mutate(input: { to: string; text: string }): Promise<unknown> };
  onMessage: {
    subscribe(
      input: Record<string, never>,
      opts: {
        onStarted: () => void;
        onData: (value: { data: { seq: number; text: string } }) => void;
        onError: (error: unknown) => void;
      },
    ): { unsubscribe(): void };
  };
}

function typedEndpoint(client: TypedClient, close: () => Promise<void>, i: number, to: string, sink: Sink): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    let started = false;
    client.onMessage.subscribe(
      {},
      {
        onStarted: () => {
          started = true;
          resolve({
            send: (text) => {
              client.sendToUser.mutate({ to, text }).then(
                () => sink.onReply(i, null),
                (error: unknown) => sink.onReply(i, errorText(error)),
              );
            },
            close,
          });
        },
        onData: ({ data }) => sink.onMessage(i, data.seq, data.text),
        onError: (error) => {
          if (!started) reject(error instanceof Error ? error : new Error(String(error)));
          else sink.onFailure(i, `subscription: ${errorText(error)}`);
        },
      },
    );
  });
}

const connectSdk =
  (url: string): Connect =>
  (i, _user, token, to, sink) => {
    const client = createParleyClient({ url, token, WebSocket: WebSocket as unknown as typeof globalThis.WebSocket });
    return typedEndpoint(client as unknown as TypedClient, () => client.close(), i, to, sink);
  };

const connectTrpc =
  (url: string): Connect =>
  (i, _user, token, to, sink) => {
    const wsClient = createWSClient({
      url: `${url.replace(/^http/, 'ws')}/trpc`,
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      connectionParams: { token },
    });
    const client = createTRPCClient<AppRouter>({ links: [wsLink<AppRouter>({ client: wsClient, transformer: superjson })] });
    return typedEndpoint(client as unknown as TypedClient, () => wsClient.close(), i, to, sink);
  };

const connectors: Record<ClientKind, (url: string) => Connect> = { lean: connectLean, sdk: connectSdk, trpc: connectTrpc };

// ---------------------------------------------------------------------------------------
// Scenarios.

/** Users u0 … u(n-1); user i sends to user i+1 (mod n), so everyone sends and receives. */
async function connectRing(job: CommonJob, users: number, connect: Connect, sink: Sink): Promise<Endpoint[]> {
  const names = Array.from({ length: users }, (_, i) => `u${i}`);
  const tokens = await signTokens(job.jwtSecret, names);
  const endpoints: Endpoint[] = new Array<Endpoint>(users);
  // Against a relay that answers no send, user i's send is complete when user i+1 has it.
  if (!repliesToSends(job.relay)) {
    const inner = sink;
    sink = {
      ...inner,
      onMessage(i, seq, body) {
        inner.onMessage(i, seq, body);
        inner.onReply((i - 1 + users) % users, null);
      },
    };
  }
  // Everyone is subscribed (and so known to the server) before anyone sends.
  await pool(users, 50, async (i) => {
    endpoints[i] = await connect(i, names[i]!, tokens[i]!, names[(i + 1) % users]!, sink);
  });
  return endpoints;
}

async function closeAll(endpoints: Endpoint[]): Promise<void> {
  await Promise.allSettled(endpoints.filter(Boolean).map((e) => e.close()));
}

/** Closed loop: every user keeps `window` sends in flight; delivered msg/s and CPU per message. */
export async function throughput(job: CommonJob & ThroughputParams & { client: ClientKind }) {
  const text = stampText(job);
  const users = job.users;
  const inFlight = new Int32Array(users);
  const lastSeq = new Float64Array(users);
  const hist = histogram();
  const st = { running: false, recording: false, delivered: 0, replies: 0, errors: 0, failures: 0, outOfOrder: 0 };
  let firstError: string | null = null;
  let endpoints: Endpoint[] = [];

  const sink: Sink = {
    onMessage(i, seq, body) {
      st.delivered++;
      if (seq !== lastSeq[i]! + 1) st.outOfOrder++;
      lastSeq[i] = seq;
      if (st.recording) hist.recordValue(Math.max(1, nowUs() - sentAt(body)));
    },
    onReply(i, error) {
      st.replies++;
      inFlight[i]!--;
      if (error !== null) {
        st.errors++;
        firstError ??= error;
        if (st.errors > 1000) st.running = false;
      }
      if (st.running) {
        inFlight[i]!++;
        endpoints[i]!.send(text(nowUs()));
      }
    },
    onFailure(_i, error) {
      st.failures++;
      firstError ??= error;
    },
  };

  progress(`${job.relay}/${job.client}: connecting ${users} users`);
  endpoints = await connectRing(job, users, connectors[job.client](job.url), sink);
  progress(`${job.relay}/${job.client}: ${users} users × ${job.window} in flight, warm-up ${job.warmupS} s, measure ${job.durationS} s`);
  st.running = true;
  for (let i = 0; i < users; i++) {
    for (let w = 0; w < job.window; w++) {
      inFlight[i]!++;
      endpoints[i]!.send(text(nowUs()));
    }
  }
  await sleep(job.warmupS * 1000);

  const s0 = await probe();
  const c0 = cpuUs();
  const sched0 = readSchedStat();
  const d0 = st.delivered;
  const r0 = st.replies;
  const t0 = performance.now();
  st.recording = true;
  hist.reset();
  await sleep(job.durationS * 1000);
  const s1 = await probe();
  const c1 = cpuUs();
  const sched1 = readSchedStat();
  const d1 = st.delivered;
  const r1 = st.replies;
  const t1 = performance.now();
  st.recording = false;
  st.running = false;

  // Every acknowledged send should now arrive: what does not within 10 s is counted lost.
  const drained = await until(
    () => inFlight.every((n) => n === 0) && st.delivered >= st.replies - st.errors,
    10_000,
  );
  await closeAll(endpoints);

  const delivered = d1 - d0;
  const seconds = (t1 - t0) / 1000;
  const server = serverDelta(s0, s1);
  return {
    client: job.client,
    users,
    window: job.window,
    seconds,
    delivered,
    deliveredPerSec: delivered / seconds,
    sendsPerSec: (r1 - r0) / seconds,
    serverCpuUsPerMsg: server ? server.cpuUs / delivered : null,
    loadgenCpuUsPerMsg: (c1 - c0) / delivered,
    loadgenCpuPct: ((c1 - c0) / 1000 / (t1 - t0)) * 100,
    loadgenMainThread: shares(sched0, sched1, t1 - t0),
    server,
    latency: percentiles(hist),
    errors: st.errors,
    subscriptionFailures: st.failures,
    firstError,
    outOfOrder: st.outOfOrder,
    lost: Math.max(0, st.replies - st.errors - st.delivered),
    drained,
  };
}

export interface LatencyStep {
  offeredPerSec: number;
  sentPerSec: number;
  deliveredPerSec: number;
  latency: Percentiles;
  /** How late the generator itself sent (µs behind schedule): large means it was the bottleneck. */
  sendLag: Percentiles;
  serverCpuPct: number | null;
  serverGcMs: number | null;
  /** Share of the step the server's main thread waited for a CPU (a contended machine). */
  serverWaiting: number | null;
  loadgenCpuPct: number;
  errors: number;
  /** Sends that never arrived within the drain time. */
  undelivered: number;
  /**
   * The server fell behind: the step stopped early (too many outstanding), did not drain,
   * or delivered less than 90% of the offered rate. Its latencies grow with the step's length.
   */
  overloaded: boolean;
}

/** Open loop at fixed offered rates; p50/p99/p99.9 send→receive, and where p99 passes the limit. */
export async function latency(job: CommonJob & LatencyParams) {
  const text = stampText(job);
  const users = job.users;
  const hist = histogram();
  const lagHist = histogram();
  const st = { delivered: 0, replies: 0, errors: 0, failures: 0, measureFromUs: Number.POSITIVE_INFINITY };
  let firstError: string | null = null;
  const sink: Sink = {
    onMessage(_i, _seq, body) {
      st.delivered++;
      const sent = sentAt(body);
      if (sent >= st.measureFromUs) hist.recordValue(Math.max(1, nowUs() - sent));
    },
    onReply(_i, error) {
      st.replies++;
      if (error !== null) {
        st.errors++;
        firstError ??= error;
      }
    },
    onFailure(_i, error) {
      st.failures++;
      firstError ??= error;
    },
  };
  progress(`${job.relay}/latency: connecting ${users} users`);
  const endpoints = await connectRing(job, users, connectLean(job.url), sink);

  const step = async (rate: number): Promise<LatencyStep> => {
    progress(`${job.relay}/latency: ${rate} msg/s offered for ${job.stepWarmupS} + ${job.stepS} s`);
    hist.reset();
    lagHist.reset();
    const start = performance.now() + 5;
    const measureFrom = start + job.stepWarmupS * 1000;
    const end = measureFrom + job.stepS * 1000;
    st.measureFromUs = Math.round(measureFrom * 1000);
    const base = { delivered: st.delivered, errors: st.errors };
    let sent = 0;
    let sentAtMeasure = 0;
    let deliveredAtMeasure = 0;
    let sentAtEnd = 0;
    let overloaded = false;
    let s0: Promise<ServerSample | null> | null = null;
    let c0 = 0;
    let t0 = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        if (s0 === null && now >= measureFrom) {
          s0 = probe();
          c0 = cpuUs();
          t0 = now;
          sentAtMeasure = sent;
          deliveredAtMeasure = st.delivered;
        }
        if (now >= end) return resolve();
        const due = Math.floor(((now - start) * rate) / 1000);
        const nowMicros = Math.round(now * 1000);
        while (sent < due) {
          const scheduled = Math.round((start + (sent * 1000) / rate) * 1000);
          endpoints[sent % users]!.send(text(scheduled));
          if (scheduled >= st.measureFromUs) lagHist.recordValue(Math.max(1, nowMicros - scheduled));
          sent++;
        }
        if (sent - (st.delivered - base.delivered) - (st.errors - base.errors) > job.maxOutstanding) {
          overloaded = true;
          return resolve();
        }
        setTimeout(tick, 1);
      };
      tick();
    });
    const t1 = performance.now();
    const s1 = await probe();
    const c1 = cpuUs();
    sentAtEnd = sent;
    const deliveredAtEnd = st.delivered;
    // Late arrivals still count (their latency is recorded): wait for the backlog.
    const drained = await until(
      () => st.delivered - base.delivered + (st.errors - base.errors) >= sent,
      Math.max(10_000, job.stepS * 1000),
    );
    st.measureFromUs = Number.POSITIVE_INFINITY;
    const seconds = Math.max(0.001, (t1 - t0) / 1000);
    const server = serverDelta((await s0) ?? null, s1);
    return {
      offeredPerSec: rate,
      sentPerSec: (sentAtEnd - sentAtMeasure) / seconds,
      deliveredPerSec: (deliveredAtEnd - deliveredAtMeasure) / seconds,
      latency: percentiles(hist),
      sendLag: percentiles(lagHist),
      serverCpuPct: server?.cpuPct ?? null,
      serverGcMs: server?.gcMs ?? null,
      serverWaiting: server?.mainThread.waiting ?? null,
      loadgenCpuPct: ((c1 - c0) / 1000 / (t1 - t0)) * 100,
      errors: st.errors - base.errors,
      undelivered: sent - (st.delivered - base.delivered) - (st.errors - base.errors),
      overloaded: overloaded || !drained || deliveredAtEnd - deliveredAtMeasure < 0.9 * rate * seconds,
    };
  };

  const steps: LatencyStep[] = [];
  const over = (s: LatencyStep) => s.overloaded || s.latency.p99Ms > job.p99LimitMs;
  let skipRest = false;
  const run = async (rate: number) => {
    const result = await step(rate);
    steps.push(result);
    if (result.overloaded && result.undelivered > 0) skipRest = true; // a backlog left: later steps mean nothing
    await sleep(1000);
    return result;
  };

  for (const rate of job.rates) {
    if (skipRest) break;
    await run(rate);
  }
  // Raise the rate until p99 passes the limit (bounded list), then narrow the crossing.
  if (!steps.some(over)) {
    for (const rate of job.searchRates) {
      if (skipRest || rate <= Math.max(...job.rates)) continue;
      if (over(await run(rate))) break;
    }
  }
  const crossing = () => {
    const sorted = [...steps].sort((a, b) => a.offeredPerSec - b.offeredPerSec);
    const firstOver = sorted.find(over);
    const under = sorted.filter((s) => !over(s) && (!firstOver || s.offeredPerSec < firstOver.offeredPerSec));
    return { under: under.at(-1)?.offeredPerSec ?? 0, over: firstOver?.offeredPerSec ?? null };
  };
  for (let k = 0; k < job.bisectSteps && !skipRest; k++) {
    const { under, over: overRate } = crossing();
    if (overRate === null) break;
    const mid = Math.round((under + overRate) / 2 / 500) * 500;
    if (mid <= under || mid >= overRate) break;
    await run(mid);
  }
  await closeAll(endpoints);
  const { under, over: overRate } = crossing();
  return {
    users,
    p99LimitMs: job.p99LimitMs,
    steps: steps.sort((a, b) => a.offeredPerSec - b.offeredPerSec),
    /** Highest offered rate measured with p99 within the limit, and the lowest above it. */
    p99Crossing: { lastUnderPerSec: under, firstOverPerSec: overRate },
    subscriptionFailures: st.failures,
    firstError,
  };
}

/** Many idle authenticated subscribers: memory per connection and set-up rate. */
export async function connections(job: CommonJob & ConnectionParams) {
  const count = job.connections;
  const names = Array.from({ length: count }, (_, i) => `c${i}`);
  progress(`${job.relay}/connections: signing ${count} tokens`);
  const tokens = await signTokens(job.jwtSecret, names);
  const loopback = new URL(job.url).hostname === '127.0.0.1';
  let dropped = 0;
  const handlers: WireHandlers = { onMessage: () => {}, onReply: () => {}, onFailure: () => void dropped++ };
  const conns: WireConnection[] = [];
  const setup = histogram();
  let failures = 0;
  let firstError: string | null = null;

  const before = await probe(true);
  progress(`${job.relay}/connections: opening ${count} subscribers, ${job.concurrency} at a time`);
  const t0 = performance.now();
  await pool(count, job.concurrency, async (i) => {
    if (failures > 100) return;
    const started = performance.now();
    const localAddress = loopback ? `127.0.${job.sourceSubnet}.${1 + (i % job.sourceAddresses)}` : undefined;
    try {
      const conn = await WireConnection.open(job.url, names[i]!, tokens[i]!, handlers, localAddress ? { localAddress } : {});
      conns.push(conn);
      await conn.subscribe();
      setup.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
    } catch (error) {
      failures++;
      firstError ??= errorText(error);
    }
  });
  const seconds = (performance.now() - t0) / 1000;
  const established = setup.totalCount;
  progress(`${job.relay}/connections: ${established} up in ${seconds.toFixed(1)} s; idle ${job.idleS} s`);
  await sleep(job.idleS * 1000);
  const after = await probe(true);
  for (const conn of conns) conn.close();

  const per = (f: (s: ServerSample) => number) =>
    before && after && established > 0 ? (f(after) - f(before)) / established : null;
  return {
    requested: count,
    established,
    failures,
    /** Subscriptions the server ended while idle. */
    dropped,
    firstError,
    setupSeconds: seconds,
    setupPerSec: established / seconds,
    setupLatency: percentiles(setup),
    rssPerConn: per((s) => s.rss),
    heapPerConn: per((s) => s.heapUsed),
    externalPerConn: per((s) => s.external + s.arrayBuffers),
    before,
    after,
  };
}

/** Reconnects one resume may make before it gives up (each resumes from the last seq). */
const maxResumeReconnects = 50;

/** A user with many missed messages reconnects from `lastEventId` "0": time until all arrive. */
export async function resume(job: CommonJob & ResumeParams) {
  const text = stampText(job);
  const [resumerToken, senderToken] = await signTokens(job.jwtSecret, ['resumer', 'sender']);
  const noop: WireHandlers = { onMessage: () => {}, onReply: () => {} };

  // The resumer connects once (so it is known), then goes away.
  const first = await WireConnection.open(job.url, 'resumer', resumerToken!, noop);
  await first.subscribe();
  first.close();

  progress(`${job.relay}/resume: sending ${job.messages} messages to an offline user`);
  let acked = 0;
  let errors = 0;
  let sent = 0;
  let firstError: string | null = null;
  const sender = await WireConnection.open(job.url, 'sender', senderToken!, {
    onMessage: () => {},
    onReply: (c, error) => {
      acked++;
      if (error !== null) {
        errors++;
        firstError ??= error;
      }
      if (sent < job.messages && errors < 100) {
        sent++;
        c.send(text(nowUs()));
      }
    },
  });
  sender.sendTo('resumer');
  for (let w = 0; w < 64 && sent < job.messages; w++, sent++) sender.send(text(nowUs()));
  const allSent = await until(() => acked >= sent && (sent >= job.messages || errors >= 100), 120_000);
  sender.close();
  if (!allSent || errors > 0) throw new Error(`resume: could not store the messages (${errors} errors: ${firstError})`);

  const runs: {
    ms: number;
    firstMs: number;
    received: number;
    inOrder: boolean;
    /** Times the server closed the socket mid-replay and the client resumed from its last seq. */
    reconnects: number;
    closes: string[];
    serverCpuMs: number | null;
  }[] = [];
  for (let r = 0; r < job.repeats; r++) {
    let received = 0;
    let inOrder = true;
    let firstAt = 0;
    let reconnects = 0;
    const closes: string[] = [];
    let current: WireConnection | null = null;
    let done: () => void = () => {};
    const all = new Promise<void>((resolve) => (done = resolve));
    // Like tRPC's wsLink after a lost connection: reconnect and resume from the last seq.
    const connect = async (from: string): Promise<void> => {
      const conn = await WireConnection.open(job.url, 'resumer', resumerToken!, {
        onMessage: (_c, seq) => {
          if (received === 0) firstAt = performance.now();
          received++;
          if (seq !== received) inOrder = false;
          if (received >= job.messages) done();
        },
        onReply: () => {},
        onFailure: (_c, error) => {
          closes.push(error);
          if (received >= job.messages || reconnects >= maxResumeReconnects) return;
          reconnects++;
          connect(String(received)).catch((e: unknown) => closes.push(errorText(e)));
        },
      });
      current = conn;
      await conn.subscribe(from);
    };
    const s0 = await probe();
    const t0 = performance.now();
    await connect('0');
    const arrived = await Promise.race([all.then(() => true), sleep(60_000).then(() => false)]);
    const t1 = performance.now();
    const s1 = await probe();
    (current as WireConnection | null)?.close();
    runs.push({
      ms: arrived ? t1 - t0 : Number.NaN,
      firstMs: firstAt - t0,
      received,
      inOrder,
      reconnects,
      closes: closes.slice(0, 5),
      serverCpuMs: s0 && s1 ? (s1.cpuUs - s0.cpuUs) / 1000 : null,
    });
    const again = reconnects > 0 ? ` (${reconnects} reconnects: ${closes[0]})` : '';
    progress(`${job.relay}/resume: run ${r + 1}: ${received} messages in ${(t1 - t0).toFixed(0)} ms${again}`);
    await sleep(300);
  }
  const times = runs.map((r) => r.ms).sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  return {
    messages: job.messages,
    runs,
    medianMs: median !== undefined && Number.isFinite(median) ? median : null,
    reconnects: Math.max(...runs.map((r) => r.reconnects)),
  };
}

// ---------------------------------------------------------------------------------------

async function runJob(job: LoadgenJob): Promise<unknown> {
  assertPlainText(stampText(job)(nowUs()));
  switch (job.scenario) {
    case 'throughput':
      return throughput(job);
    case 'latency':
      return latency(job);
    case 'connections':
      return connections(job);
    case 'resume':
      return resume(job);
  }
}

if (!process.send) throw new Error('loadgen: start it through `npm run bench` (it needs an IPC channel)');
process.on('message', (message: LoadgenRequest) => {
  if (message.type === 'probe-result') {
    probes.get(message.reqId)?.(message.sample);
    probes.delete(message.reqId);
    return;
  }
  runJob(message.job).then(
    (result) => reply({ type: 'result', result }),
    (error: unknown) => reply({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
// The orchestrator gone means nobody wants the result: stop at once. Exiting (rather than
// dying of the signal) lets --cpu-prof write its profile.
process.once('disconnect', () => process.exit(0));
process.once('SIGTERM', () => process.exit(0));
