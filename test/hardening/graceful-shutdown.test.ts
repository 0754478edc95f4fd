import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createParleyClient, type Message, type ParleyClient } from '@parley/sdk';
import { cliPath, ensureBuilt } from '../helpers/build.js';
import { signToken, tempDir, testSecret } from '../helpers/server.js';
import { collect } from '../helpers/collect.js';

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
});
