/**
 * @module descriptors
 * File descriptors for the one-node scale run: each idle connection holds one in the
 * server and one in the load generator. The bench raises its own soft limit to the hard
 * one (`prlimit`; children inherit it) and says why when even that is too few.
 */
import { execFileSync } from 'node:child_process';

/** Descriptors the server keeps for itself (Parley's PARLEY_MAX_CONNECTIONS default leaves 128). */
const serverReserve = 128;

/**
 * PARLEY_MAX_CONNECTIONS for a run of `connections`: Parley warns at 90% of its cap (and of
 * its descriptors), and the bench's connections are expected, not a warning.
 */
export function connectionCap(connections: number): number {
  return Math.ceil(connections / 0.9) + serverReserve;
}

function limits(): { soft: number; hard: number } | null {
  try {
    const out = execFileSync('prlimit', ['--pid', String(process.pid), '--nofile', '--raw', '--noheadings', '--output=SOFT,HARD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const [soft, hard] = out.trim().split(/\s+/).map((v) => (v === 'unlimited' ? Number.POSITIVE_INFINITY : Number(v)));
    return soft !== undefined && hard !== undefined && Number.isFinite(soft) ? { soft, hard } : null;
  } catch {
    return null;
  }
}

/**
 * Makes room for `connections` connections per process if the hard limit allows; returns
 * null when there is room, else why there is not.
 */
export function roomForConnections(connections: number): string | null {
  const needed = connectionCap(connections) + 1000;
  const before = limits();
  if (before === null) return 'could not read the file-descriptor limit (prlimit from util-linux is missing)';
  if (before.soft >= needed) return null;
  if (before.hard >= needed) {
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${before.hard}:${before.hard}`], { stdio: 'ignore' });
    } catch {
      return `the soft file-descriptor limit is ${before.soft} and prlimit could not raise it to the hard ${before.hard}`;
    }
    return null;
  }
  return (
    `the file-descriptor limit is ${before.soft} (hard ${before.hard}, which this user may not raise), ` +
    `and ${connections.toLocaleString('en-US')} connections need about ${needed.toLocaleString('en-US')} in the server ` +
    `(${connections.toLocaleString('en-US')} and headroom under Parley's 90% warning) and ${connections.toLocaleString('en-US')} in the load generator`
  );
}
