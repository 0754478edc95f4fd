/**
 * @module ipc
 * The messages the bench's processes exchange over Node's IPC channel: the orchestrator
 * (`run.ts`) asks a server process for its own CPU time and memory, and a load generator
 * asks the orchestrator for a server sample at the edges of its measured window.
 */

/** What a server process reports about itself (`process.cpuUsage()`, `process.memoryUsage()`). */
export interface ServerSample {
  /** `performance.now()` of the server process, ms. */
  at: number;
  /** User + system CPU time since the process started, µs. */
  cpuUs: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Garbage collections observed since start, and their summed pause, ms. */
  gcCount: number;
  gcMs: number;
  /** Cumulative event-loop idle and active time, ms (`performance.eventLoopUtilization()`). */
  eluIdle: number;
  eluActive: number;
  /** The main thread's time on a CPU and time runnable but waiting for one, ns (Linux). */
  mainRunNs: number;
  mainWaitNs: number;
}

/** Orchestrator → server process. */
export type ServerRequest = { type: 'sample'; reqId: number; gc: boolean };

/** Server process → orchestrator. */
export type ServerReply =
  | { type: 'ready'; url: string; pid: number }
  | { type: 'sample'; reqId: number; sample: ServerSample };

/** Orchestrator → load generator. */
export type LoadgenRequest =
  | { type: 'run'; job: LoadgenJob }
  | { type: 'probe-result'; reqId: number; sample: ServerSample | null };

/** Load generator → orchestrator. */
export type LoadgenReply =
  | { type: 'probe'; reqId: number; gc: boolean }
  | { type: 'result'; result: unknown }
  | { type: 'error'; message: string };

/** `baseline` is the forwarding relay (forwarding-relay.ts), `trpc-relay` the tRPC-shaped one. */
export type Relay = 'parley' | 'baseline' | 'trpc-relay';

/** The forwarding relay answers no send: the delivery of a send is its completion. */
export function repliesToSends(relay: Relay): boolean {
  return relay !== 'baseline';
}
export type ClientKind = 'lean' | 'sdk' | 'trpc';

/** One scenario run, handed to a fresh load-generator process. */
export type LoadgenJob =
  | ({ scenario: 'throughput'; client: ClientKind } & CommonJob & ThroughputParams)
  | ({ scenario: 'latency' } & CommonJob & LatencyParams)
  | ({ scenario: 'connections' } & CommonJob & ConnectionParams)
  | ({ scenario: 'resume' } & CommonJob & ResumeParams);

export interface CommonJob {
  relay: Relay;
  /** The server's base URL, `http://127.0.0.1:PORT`. */
  url: string;
  /** HS256 secret the server verifies tokens with (a random one per bench run). */
  jwtSecret: string;
  textBytes: number;
}

export interface ThroughputParams {
  users: number;
  window: number;
  warmupS: number;
  durationS: number;
}

export interface LatencyParams {
  users: number;
  /** Rates always run, msg/s (1k, 5k, 10k). */
  rates: number[];
  /** Further rates tried, in order, until p99 passes `p99LimitMs` (bounded list). */
  searchRates: number[];
  /** Extra steps that narrow the crossing between the last rate under and the first over. */
  bisectSteps: number;
  stepS: number;
  stepWarmupS: number;
  p99LimitMs: number;
  /** A step stops early when this many messages are sent and not yet delivered. */
  maxOutstanding: number;
}

export interface ConnectionParams {
  connections: number;
  /** Handshakes in flight at once. */
  concurrency: number;
  /**
   * Source addresses 127.0.S.1 … 127.0.S.N (S = `sourceSubnet`), so ephemeral ports do not
   * run short; each run gets a subnet of its own, so the sockets an earlier run left in
   * TIME_WAIT do not slow its port searches (they did: the second of two 10,000-connection
   * runs on the same addresses set up 3–7× slower, whichever server it was).
   */
  sourceAddresses: number;
  sourceSubnet: number;
  idleS: number;
}

/** Scheduler figures of a main thread over a window, as shares of wall time (0…1). */
export interface ThreadShares {
  /** On a CPU. */
  running: number;
  /** Runnable, but every core was busy (with other processes): the machine was contended. */
  waiting: number;
}

export interface ResumeParams {
  messages: number;
  repeats: number;
}
