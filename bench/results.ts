/**
 * @module results
 * The shape of `bench-results/<timestamp>.json`: what each scenario returned, per relay,
 * plus the machine, the options and anything that went wrong.
 */
import type { Relay } from './ipc.js';
import type { connections, latency, LatencyStep, resume, throughput } from './loadgen.js';

export type ThroughputResult = Awaited<ReturnType<typeof throughput>>;
export type LatencyResult = Awaited<ReturnType<typeof latency>>;
export type LatencyStepResult = LatencyStep;
export type ConnectionsResult = Awaited<ReturnType<typeof connections>>;
export type ResumeResult = Awaited<ReturnType<typeof resume>>;

export interface BenchOptions {
  quick: boolean;
  scenarios: string[];
  relays: string[];
  users: number;
  window: number;
  durationS: number;
  warmupS: number;
  rounds: number;
  rates: number[];
  searchRates: number[];
  stepS: number;
  stepWarmupS: number;
  p99LimitMs: number;
  connections: number;
  /** Idle subscribers of the one-node scale run (Parley only); 0 skips it. */
  scaleConnections: number;
  resumeMessages: number;
  textBytes: number;
  out: string;
  /** Parent of each server's temp data dir (its filesystem decides what an fsync costs). */
  dataDir: string;
  /** Set: every child process wrote a CPU profile under this directory. */
  profile: string | null;
}

/** Medians over rounds of the figures the table shows. */
export interface ThroughputSummary {
  deliveredPerSec: number;
  serverCpuUsPerMsg: number | null;
  serverCpuPct: number | null;
  loadgenCpuUsPerMsg: number;
  loadgenCpuPct: number;
  p50Ms: number;
  p99Ms: number;
  gcMsPerSec: number | null;
  /** Event-loop utilization of the server, 0…1. */
  serverElu: number | null;
  /** Shares of wall time the server's / generator's main thread waited for a CPU. */
  serverWaiting: number | null;
  loadgenWaiting: number;
}

/** `baseline` is the forwarding relay. */
export type PerRelay<T> = Partial<Record<Relay, T>>;

export interface Machine {
  cores: number;
  cpuModel: string;
  node: string;
  os: string;
  memoryMiB: number;
  /** Filesystem type of the data dir's parent, e.g. ext4 or tmpfs. */
  dataDirFs: string;
  loadAvgStart: number;
  loadAvgEnd: number | null;
  commit: string;
  /** server/, sdk/ or bench/ had uncommitted changes when the run started. */
  dirty: boolean;
  /** Why the servers and load generator were not pinned to their own CPUs; null when they were. */
  unpinned: string | null;
}

export interface BenchResults {
  version: 1;
  startedAt: string;
  finishedAt: string | null;
  command: string;
  machine: Machine;
  options: BenchOptions;
  throughput?: {
    rounds: PerRelay<ThroughputResult[]>;
    summary: PerRelay<ThroughputSummary>;
  };
  clients?: { sdk?: ThroughputResult; trpc?: ThroughputResult };
  latency?: PerRelay<LatencyResult>;
  connections?: PerRelay<ConnectionsResult>;
  /** Parley alone holding `scaleConnections` idle subscribers, or why it was not run. */
  scale?: { result: ConnectionsResult | null; notRun: string | null };
  resume?: { parley?: ResumeResult };
  /** Server processes that wrote to stdout/stderr (at log level warn that means trouble). */
  serverLogs: { what: string; bytes: number; tail: string }[];
  errors: { what: string; message: string }[];
  warnings: string[];
}
