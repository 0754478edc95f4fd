/**
 * @module results
 * The shape of `bench-results/<timestamp>.json`: what each scenario returned, per relay,
 * plus the machine, the options and anything that went wrong.
 */
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
}

export interface BenchResults {
  version: 1;
  startedAt: string;
  finishedAt: string | null;
  command: string;
  machine: Machine;
  options: BenchOptions;
  throughput?: {
    rounds: { parley?: ThroughputResult[]; baseline?: ThroughputResult[] };
    summary: { parley?: ThroughputSummary; baseline?: ThroughputSummary };
  };
  clients?: { sdk?: ThroughputResult; trpc?: ThroughputResult };
  latency?: { parley?: LatencyResult; baseline?: LatencyResult };
  connections?: { parley?: ConnectionsResult; baseline?: ConnectionsResult };
  resume?: { parley?: ResumeResult };
  /** Server processes that wrote to stdout/stderr (at log level warn that means trouble). */
  serverLogs: { what: string; bytes: number; tail: string }[];
  errors: { what: string; message: string }[];
  warnings: string[];
}
