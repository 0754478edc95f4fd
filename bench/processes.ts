/**
 * @module processes
 * Starts the server under test and the load generator as child processes, talks to them
 * over IPC, and makes sure every child is killed when the bench ends, fails or is
 * interrupted (each child also exits by itself when its IPC channel to us closes).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  LoadgenJob,
  LoadgenReply,
  LoadgenRequest,
  Relay,
  ServerReply,
  ServerRequest,
  ServerSample,
} from './ipc.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const children = new Set<ChildProcess>();

let profileRoot: string | null = null;
let profileSeq = 0;

/** From now on every child writes a V8 CPU profile (`--cpu-prof`) into a folder of `dir`. */
export function profileInto(dir: string): void {
  profileRoot = dir;
}

/** `--cpu-prof` arguments for one child, in `<root>/<nn>-<label>/`, when profiling is on. */
function profileArgs(label: string): string[] {
  if (profileRoot === null) return [];
  profileSeq += 1;
  const name = `${String(profileSeq).padStart(2, '0')}-${label.replace(/[^\w.-]+/g, '-')}`;
  return ['--cpu-prof', `--cpu-prof-dir=${join(profileRoot, name)}`];
}
const tempDirs = new Set<string>();

/** The CPU each kind of child runs on, or null when unpinned. */
let cpus: { server: number; loadgen: number } | null = null;

/**
 * Pins every server to CPU `server` and every load generator to CPU `loadgen` from now on
 * (`taskset`), or explains why not: a reason to report, or null when pinned.
 */
export function pinChildren(cores: number): string | null {
  if (cores < 2) return `${cores} CPU: the servers and the load generator share it (unpinned)`;
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'taskset (util-linux) is not installed: unpinned';
  }
  cpus = { server: 0, loadgen: 1 };
  return null;
}

/**
 * Every thread of `child` onto one CPU. Threads it starts later (a worker, libuv's pool)
 * inherit the mask. A failure stops the bench: an unpinned figure would pass for a pinned one.
 */
function pin(child: ChildProcess, kind: 'server' | 'loadgen'): void {
  if (cpus === null || child.pid === undefined) return;
  execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', String(cpus[kind]), String(child.pid)], { stdio: 'ignore' });
}

/** Kills every child still running (SIGKILL: called on the way out) and removes temp dirs. */
export function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM, then SIGKILL after `graceMs`. */
async function stop(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

export interface ServerHandle {
  relay: Relay;
  url: string;
  pid: number;
  /** CPU time, memory, GC of the server process; `gc` runs a full collection first. */
  sample(gc?: boolean): Promise<ServerSample | null>;
  /** What the server wrote to stdout/stderr (log level warn: should be little). */
  logFile: string;
  stop(): Promise<{ logBytes: number; logTail: string }>;
}

export interface ServerEnv {
  jwtSecret: string;
  /** Parent directory of the server's temp dir (SQLite data, log). */
  dataDir: string;
  /** Added to the server's environment (e.g. PARLEY_MAX_CONNECTIONS for the scale run). */
  env?: Record<string, string>;
}

const scripts: Record<Relay, string> = {
  parley: 'parley-server.js',
  baseline: 'forwarding-relay.js',
  'trpc-relay': 'trpc-shaped-relay.js',
};

/** Starts Parley (built dist, SQLite in a fresh temp dir) or a relay on port 0. */
export async function startServer(relay: Relay, { jwtSecret, dataDir, env = {} }: ServerEnv, label: string = relay): Promise<ServerHandle> {
  const dir = mkdtempSync(join(dataDir, `parley-bench-${relay}-`));
  tempDirs.add(dir);
  const logFile = join(dir, 'server.log');
  const logFd = openSync(logFile, 'a');
  const script = join(here, scripts[relay]);
  const child = track(
    fork(script, [], {
      // Both servers get the flags `parley serve` runs with (see server/cli/main.ts).
      execArgv: ['--expose-gc', '--max-semi-space-size=64', ...profileArgs(`${label}-server`)],
      stdio: ['ignore', logFd, logFd, 'ipc'],
      env: {
        ...process.env,
        NODE_ENV: 'production',
        PORT: '0',
        HOST: '127.0.0.1',
        PARLEY_DATA_DIR: join(dir, 'data'),
        PARLEY_JWT_SECRET: jwtSecret,
        PARLEY_LOG_LEVEL: 'warn',
        PARLEY_RATE_LIMIT: 'off',
        // Every bench connection comes from a few loopback addresses: a per-address cap
        // meant for the Internet would refuse the connections scenario.
        PARLEY_MAX_CONNECTIONS_PER_IP: '1000000',
        ...env,
      },
    }),
  );
  closeSync(logFd);
  pin(child, 'server');

  const pending = new Map<number, (sample: ServerSample) => void>();
  let nextReq = 1;
  const ready = new Promise<{ url: string; pid: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${relay} server did not start in 60 s`)), 60_000);
    child.on('message', (message: ServerReply) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(message);
      } else if (message.type === 'sample') {
        pending.get(message.reqId)?.(message.sample);
        pending.delete(message.reqId);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${relay} server exited (${signal ?? code}) before it was ready:\n${tail(logFile)}`));
      for (const resolveSample of pending.values()) resolveSample(null as unknown as ServerSample);
    });
  });
  const { url, pid } = await ready;

  return {
    relay,
    url,
    pid,
    logFile,
    sample(gc = false) {
      if (child.exitCode !== null || !child.connected) return Promise.resolve(null);
      const reqId = nextReq++;
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(reqId);
          resolve(null);
        }, 10_000);
        pending.set(reqId, (sample) => {
          clearTimeout(timer);
          resolve(sample);
        });
        child.send({ type: 'sample', reqId, gc } satisfies ServerRequest);
      });
    },
    async stop() {
      await stop(child);
      const logBytes = statSync(logFile).size;
      const logTail = logBytes > 0 ? tail(logFile) : '';
      rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
      return { logBytes, logTail };
    },
  };
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Runs one job in a fresh load-generator process and returns its result. The generator's
 * probes are answered with samples of `server`. Killed after `timeoutMs`.
 */
export async function runLoadgen(job: LoadgenJob, server: ServerHandle, timeoutMs: number, label: string = job.relay): Promise<unknown> {
  const child = track(
    fork(join(here, 'loadgen.js'), [], {
      execArgv: ['--max-old-space-size=4096', ...profileArgs(`${label}-loadgen`)],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  pin(child, 'loadgen');
  try {
    return await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${job.relay}/${job.scenario} did not finish in ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      child.on('message', (message: LoadgenReply) => {
        if (message.type === 'probe') {
          server.sample(message.gc).then((sample) => {
            if (child.connected) child.send({ type: 'probe-result', reqId: message.reqId, sample } satisfies LoadgenRequest);
          }, reject);
        } else if (message.type === 'result') {
          clearTimeout(timer);
          resolve(message.result);
        } else {
          clearTimeout(timer);
          reject(new Error(`${job.relay}/${job.scenario} failed: ${message.message}`));
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${job.relay}/${job.scenario}: load generator exited (${signal ?? code})`));
      });
      child.send({ type: 'run', job } satisfies LoadgenRequest);
    });
  } finally {
    await stop(child, 2_000);
  }
}
