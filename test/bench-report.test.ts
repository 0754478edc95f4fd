import { describe, expect, it } from 'vitest';
import { renderTable } from '../bench/report.js';
import type { BenchOptions, BenchResults, ThroughputSummary } from '../bench/results.js';

const options: BenchOptions = {
  quick: true,
  scenarios: ['throughput'],
  relays: ['parley', 'baseline'],
  users: 50,
  window: 16,
  durationS: 3,
  warmupS: 1,
  rounds: 1,
  rates: [],
  searchRates: [],
  stepS: 2,
  stepWarmupS: 0.5,
  p99LimitMs: 50,
  connections: 1000,
  scaleConnections: 100_000,
  resumeMessages: 2000,
  textBytes: 100,
  out: '/nonexistent',
  dataDir: '/nonexistent',
  profile: null,
};

function summary(deliveredPerSec: number, loadgenCpuPct: number): ThroughputSummary {
  return {
    deliveredPerSec,
    serverCpuUsPerMsg: 1e6 / deliveredPerSec,
    serverCpuPct: 100,
    loadgenCpuUsPerMsg: 5,
    loadgenCpuPct,
    p50Ms: 1,
    p99Ms: 2,
    gcMsPerSec: 10,
    serverElu: 0.9,
    serverWaiting: 0,
    loadgenWaiting: 0,
  };
}

function results(parleyLoadgenPct: number, relayLoadgenPct: number, scaleNotRun: string | null = null): BenchResults {
  return {
    version: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    command: 'npm run bench -- --quick',
    machine: {
      cores: 2,
      cpuModel: 'test',
      node: 'v20',
      os: 'linux',
      memoryMiB: 4096,
      dataDirFs: 'ext4',
      loadAvgStart: 0,
      loadAvgEnd: 0,
      commit: 'abc1234',
      dirty: false,
      unpinned: null,
    },
    options,
    throughput: {
      rounds: {},
      summary: { parley: summary(20_000, parleyLoadgenPct), baseline: summary(100_000, relayLoadgenPct) },
    },
    ...(scaleNotRun === null ? {} : { scale: { result: null, notRun: scaleNotRun } }),
    serverLogs: [],
    errors: [],
    warnings: [],
  };
}

const deliveredRow = (table: string) => table.split('\n').find((line) => line.includes('delivered msg/s')) ?? '';

describe('the bench report', () => {
  it('shows a throughput ratio as VOID, not as a number, when a load generator was more than 80% busy', () => {
    const table = renderTable(results(20, 81));
    expect(deliveredRow(table)).toContain('VOID (generator 81% busy)');
    expect(deliveredRow(table)).not.toContain('0.20×');
    expect(table).toContain('VOID throughput ≥ 0.4× the forwarding relay');
  });

  it('shows the ratio against the forwarding relay when both load generators were at most 80% busy', () => {
    const table = renderTable(results(20, 80));
    expect(deliveredRow(table)).toContain('0.20×');
    expect(table).toContain('✗ throughput ≥ 0.4× the forwarding relay: 0.20×');
  });

  it('says whether the servers were pinned, and why the one-node scale run did not run', () => {
    const table = renderTable(results(20, 20, 'the file-descriptor limit is 20000'));
    expect(table).toContain('servers pinned to CPU 0, load generator to CPU 1 (taskset)');
    expect(table).toContain('Not run: 100,000 idle subscribers on one node: the file-descriptor limit is 20000');
  });
});
