/**
 * @module schedstat
 * The calling thread's scheduler figures from Linux's `/proc/thread-self/schedstat`: time
 * on a CPU and time spent runnable but waiting for one. Waiting time is how the bench sees
 * a machine busy with other work (on 2 cores, other people's test runs), which CPU time
 * per message alone does not show. Zeros where the file does not exist.
 */
import { readFileSync } from 'node:fs';

export interface SchedStat {
  /** ns on a CPU. */
  runNs: number;
  /** ns runnable but waiting for a CPU. */
  waitNs: number;
}

export function readSchedStat(): SchedStat {
  try {
    const [run, wait] = readFileSync('/proc/thread-self/schedstat', 'utf8').trim().split(/\s+/);
    return { runNs: Number(run) || 0, waitNs: Number(wait) || 0 };
  } catch {
    return { runNs: 0, waitNs: 0 };
  }
}
