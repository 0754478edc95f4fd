/**
 * @module server-probe
 * Runs inside a server process under test (Parley or a relay): answers the
 * orchestrator's IPC requests with the process's own CPU time, memory, GC and event-loop
 * figures, and exits when the orchestrator goes away, so no server outlives a bench run.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import type { ServerReply, ServerRequest, ServerSample } from './ipc.js';
import { readSchedStat } from './schedstat.js';

let gcCount = 0;
let gcMs = 0;

function sample(): ServerSample {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  const elu = performance.eventLoopUtilization();
  const sched = readSchedStat();
  return {
    at: performance.now(),
    cpuUs: cpu.user + cpu.system,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    gcCount,
    gcMs,
    eluIdle: elu.idle,
    eluActive: elu.active,
    mainRunNs: sched.runNs,
    mainWaitNs: sched.waitNs,
  };
}

function send(reply: ServerReply): void {
  process.send?.(reply);
}

/**
 * Wires the probe to the IPC channel. `close` runs on SIGTERM/SIGINT or when the parent
 * disconnects; the process exits after it (or after 5 s if it hangs).
 */
export function installServerProbe(close: () => Promise<void>): { ready(url: string): void } {
  if (!process.send) throw new Error('the bench server must be started by the bench (it needs an IPC channel)');
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcCount += 1;
      gcMs += entry.duration;
    }
  }).observe({ entryTypes: ['gc'] });

  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (request: ServerRequest) => {
    if (request.type !== 'sample') return;
    if (request.gc && gc) {
      gc();
      gc();
    }
    send({ type: 'sample', reqId: request.reqId, sample: sample() });
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), 5_000).unref();
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('bench server: close failed', error);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.once('disconnect', stop);
  return { ready: (url) => send({ type: 'ready', url, pid: process.pid }) };
}
