import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createParleyClient, type Message, type ParleyClient } from '@parley/sdk';
import { cliPath, ensureBuilt } from '../helpers/build.js';
import { signToken, startServer, tempDir, testSecret } from '../helpers/server.js';
import { collect } from '../helpers/collect.js';
import { isClose, openRaw, type RawConnection } from '../helpers/raw-ws.js';

interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  exited: Promise<number | string>;
  output(): string;
}

const children = new Set<ChildProcess>();

/** `parley serve` from the built CLI, as an operator runs it. */
async function serve(dataDir: string, port: number): Promise<ServeProcess> {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '' };
  Object.assign(env, {
    PORT: String(port),
    HOST: '127.0.0.1',
    PARLEY_DATA_DIR: dataDir,
    PARLEY_JWT_SECRET: testSecret,
    PARLEY_RATE_LIMIT: 'off',
    PARLEY_SHUTDOWN_GRACE: '5s',
    PARLEY_LOG_LEVEL: 'warn',
  });
  const child = spawn(process.execPath, [cliPath, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  const url = await Promise.race([
    vi.waitFor(
      () => {
        const match = /Parley is running: open (http:\/\/\S+?)\/ /.exec(output);
        if (!match) throw new Error('not listening yet');
        return match[1] as string;
      },
      { timeout: 20_000, interval: 20 },
    ),
    exited.then((code) => Promise.reject(new Error(`parley serve exited (${code}) before listening:\n${output}`))),
  ]);
  return { child, url, exited, output: () => output };
}

interface Outcomes {
  acked: Message[];
  /** Sends the SDK gave up on: not acknowledged, so no promise was made about them. */
  failed: number;
}

/** Sends to `to` until `running()` is false, keeping every message the server acknowledged. */
async function sendContinuously(client: ParleyClient, from: string, to: string, running: () => boolean, out: Outcomes) {
  for (let i = 0; running() && i < 100_000; i++) {
    try {
      out.acked.push(await client.sendToUser.mutate({ to, text: `${from} ${i}` }));
    } catch {
      out.failed++;
    }
  }
}

describe('graceful shutdown', () => {
  beforeAll(() => ensureBuilt(), 300_000);
  afterEach(async () => {
    const alive = [...children];
    for (const child of alive) child.kill('SIGKILL');
    await Promise.all(alive.map((child) => new Promise((resolve) => child.once('exit', resolve))));
    expect(alive).toEqual([]);
  });

  it('SIGTERM while messages are in flight: the process exits 0, and every acknowledged send is delivered once after a restart', async () => {
    const dataDir = tempDir();
    const clients: ParleyClient[] = [];
    try {
      const first = await serve(dataDir, 0);
      const port = Number(new URL(first.url).port);
      const client = async (userId: string) => {
        const c = createParleyClient({ url: first.url, token: await signToken(userId) });
        clients.push(c);
        await c.me.query();
        return c;
      };
      const bob = await client('bob');
      const inbox = collect(bob);
      const senders = [await client('alice'), await client('carol')];

      let sending = true;
      const out: Outcomes = { acked: [], failed: 0 };
      const { acked } = out;
      const sends = Promise.all(senders.map((c, i) => sendContinuously(c, `sender${i}`, 'bob', () => sending, out)));
      await vi.waitFor(() => expect(acked.length).toBeGreaterThanOrEqual(50), { timeout: 15_000 });

      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      const ackedByFirst = acked.length;

      const second = await serve(dataDir, port);
      // Senders carry on against the restarted server; then stop.
      await vi.waitFor(() => expect(acked.length).toBeGreaterThanOrEqual(ackedByFirst + 20), { timeout: 20_000 });
      sending = false;
      await sends;

      const ackedIds = acked.map((m) => m.id).sort();
      await vi.waitFor(
        () => {
          const received = new Set(inbox.messages.map((m) => m.id));
          expect(ackedIds.filter((id) => !received.has(id))).toEqual([]);
        },
        { timeout: 20_000 },
      );
      // Nothing twice, nothing out of order, and nothing but what was sent.
      expect(inbox.seqs()).toEqual(inbox.messages.map((_, i) => i + 1));
      expect(new Set(inbox.messages.map((m) => m.id)).size).toBe(inbox.messages.length);
      expect(inbox.messages.length).toBeLessThanOrEqual(acked.length + out.failed);

      for (const c of clients.splice(0)) await c.close();
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      expect(second.output()).not.toMatch(/"level":(50|60)/); // no error or fatal logs
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('close() while sends are in flight loses no reply: every stored send was acknowledged, every acknowledged send is stored (several rounds)', async () => {
    const sockets = 4;
    const pipelined = 8;
    for (let round = 0; round < 2; round++) {
      const what = `round ${round}`;
      await using first = await startServer({ sendRateLimit: null, shutdownGraceMs: 5000 });
      await first.client('bob');
      const acked: string[] = [];
      const refused: Array<string | undefined> = [];
      const unanswered: string[] = [];
      const conns: RawConnection[] = [];
      for (let s = 0; s < sockets; s++) conns.push(await openRaw(first.url, { token: await first.token('alice') }));
      // Each socket keeps `pipelined` sends outstanding until it is closed.
      const pumps = conns.flatMap((conn, s) =>
        Array.from({ length: pipelined }, async (_, lane) => {
          for (let n = 0; n < 10_000; n++) {
            const clientMsgId = `${s}-${lane}-${n}`;
            const reply = await conn.call('mutation', 'sendToUser', { to: 'bob', text: clientMsgId, clientMsgId });
            if (isClose(reply)) {
              unanswered.push(clientMsgId);
              return;
            }
            if (reply.error) refused.push(reply.error.json?.data?.code);
            else acked.push(clientMsgId);
          }
        }),
      );
      await vi.waitFor(() => expect(acked.length).toBeGreaterThanOrEqual(200), { timeout: 15_000 });
      await first.server.close();
      await Promise.all(pumps);

      await using second = await startServer({ dataDir: first.dataDir });
      const alice = await second.http('alice');
      const stored: string[] = [];
      let before: string | undefined;
      for (let page = 0; page < 1000; page++) {
        const { items, nextCursor } = await alice.history.query({ with: 'bob', limit: 200, ...(before ? { before } : {}) });
        stored.push(...items.map((m) => m.clientMsgId ?? ''));
        if (nextCursor === null) break;
        before = nextCursor;
      }
      const ackedSet = new Set(acked);
      const storedSet = new Set(stored);
      expect(stored.filter((id) => !ackedSet.has(id)), `${what}: stored without a reply`).toEqual([]);
      expect(acked.filter((id) => !storedSet.has(id)), `${what}: acknowledged but lost`).toEqual([]);
      expect(storedSet.size, what).toBe(stored.length);
      // A send refused while stopping is retryable (the SDK sends it again, same clientMsgId).
      expect(refused.filter((code) => code !== 'SERVICE_UNAVAILABLE'), what).toEqual([]);
    }
  }, 120_000);
});
