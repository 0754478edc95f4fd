/**
 * Near the descriptor limit (issue 11, item 2): a node started with `ulimit -n 256` caps
 * its connections below the limit by default, drops the extra ones at accept, says so in
 * the log once per burst, and keeps serving. With the cap set above the limit, it warns
 * before descriptors run out and survives running out of them.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bundleNode, type NodeBundle } from '../helpers/node-process.js';
import { tempDir, testSecret } from '../helpers/server.js';

const prlimit = '/usr/bin/prlimit';
const descriptorLimit = 256;

interface LimitedNode {
  url: string;
  child: ChildProcess;
  warnings(message: string): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** A Parley node in a process of its own whose descriptor limit is `descriptorLimit`. */
async function startLimitedNode(bundle: NodeBundle, env: Record<string, string>): Promise<LimitedNode> {
  const dataDir = tempDir();
  const child = fork(bundle.entry, [], {
    execPath: prlimit,
    execArgv: [`--nofile=${descriptorLimit}:${descriptorLimit}`, process.execPath],
    env: {
      PATH: process.env['PATH'] ?? '',
      PORT: '0',
      PARLEY_DATA_DIR: dataDir,
      PARLEY_JWT_SECRET: testSecret,
      PARLEY_LOG_LEVEL: 'warn',
      PARLEY_IDLE_TIMEOUT: '60s',
      PARLEY_MAX_CONNECTIONS_PER_IP: '100000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { url: string }) => resolve(m.url));
    child.once('exit', (code) => reject(new Error(`node exited (${code}) before listening:\n${output}`)));
  });
  return {
    url,
    child,
    warnings: (message) =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => String(line['msg']).startsWith(message)),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Opens `count` idle TCP connections spread over 127.0.0.2-5; resolves once each connected or failed. */
async function openIdle(url: string, count: number): Promise<Array<{ socket: Socket; closed: () => boolean }>> {
  const { hostname, port } = new URL(url);
  return Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<{ socket: Socket; closed: () => boolean }>((resolve) => {
          const socket = connect({ host: hostname, port: Number(port), localAddress: `127.0.0.${2 + (i % 4)}` });
          let closed = false;
          socket.on('error', () => {});
          socket.once('close', () => (closed = true));
          const done = () => resolve({ socket, closed: () => closed });
          socket.once('connect', done);
          socket.once('error', done);
        }),
    ),
  );
}

describe.skipIf(!existsSync(prlimit))('a node near its file-descriptor limit', () => {
  let bundle: NodeBundle;

  beforeAll(async () => {
    bundle = await bundleNode();
  });

  afterAll(() => bundle?.remove());

  it('caps connections below the descriptor limit by default, drops extra ones at accept, warns once, and keeps serving', async () => {
    const node = await startLimitedNode(bundle, {});
    const sockets = await openIdle(node.url, 200);
    try {
      // The default cap is the limit minus a reserve of 128: 128 connections.
      await vi.waitFor(() => expect(sockets.filter((s) => s.closed())).toHaveLength(200 - (descriptorLimit - 128)), {
        timeout: 10_000,
      });
      expect(node.warnings('connection dropped: at PARLEY_MAX_CONNECTIONS')).toHaveLength(1);
      expect(node.warnings('connection dropped: at PARLEY_MAX_CONNECTIONS')[0]).toMatchObject({ maxConnections: 128 });
      expect(node.warnings('near the connection limit')).toHaveLength(1);
      expect(node.warnings('near the connection limit')[0]).toMatchObject({ descriptorLimit });

      for (const s of sockets) s.socket.destroy();
      await vi.waitFor(async () => expect((await fetch(`${node.url}/healthz`)).status).toBe(200));
      expect(node.child.exitCode).toBe(null);
    } finally {
      for (const s of sockets) s.socket.destroy();
      await node.stop();
    }
  });

  it('warns before descriptors run out when the cap is set above the limit, and survives running out', async () => {
    const node = await startLimitedNode(bundle, { PARLEY_MAX_CONNECTIONS: '1000' });
    const sockets = await openIdle(node.url, 300);
    try {
      await vi.waitFor(() => expect(node.warnings('near the connection limit')).toHaveLength(1), { timeout: 10_000 });
      expect(node.warnings('near the connection limit')[0]).toMatchObject({ maxConnections: 1000, descriptorLimit });
      // It did run out: libuv closes what it cannot accept (its EMFILE reserve descriptor),
      // usually without reporting EMFILE, which is why the warning above comes from counting.
      await vi.waitFor(() => expect(sockets.filter((s) => s.closed()).length).toBeGreaterThan(0), { timeout: 10_000 });
      for (const s of sockets) s.socket.destroy();
      await vi.waitFor(async () => expect((await fetch(`${node.url}/healthz`)).status).toBe(200));
      expect(node.child.exitCode).toBe(null);
    } finally {
      for (const s of sockets) s.socket.destroy();
      await node.stop();
    }
  });
});
