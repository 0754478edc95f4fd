/**
 * The embedded store on a full disk (a data dir on a 2 MiB tmpfs): writes answer the
 * retryable SERVICE_UNAVAILABLE, not a bug; readiness says not ready while writes fail;
 * the log says so once, not once per write; and once there is room again, sends commit
 * with no restart and nothing acknowledged is lost.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createServer, defaultConfig, type ParleyServer } from '../../server/index.js';
import { signToken, tempDir, testSecret } from '../helpers/server.js';
import { serviceAvailable } from '../helpers/services.js';
import { recordingLogger } from '../helpers/recording-log.js';

const mountable = await serviceAvailable('a tmpfs mount (needs root)', async () => {
  const dir = tempDir('parley-tmpfs-probe-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function mountTmpfs(bytes: number): string {
  const dir = tempDir('parley-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  cleanups.push(() => {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

async function send(server: ParleyServer, token: string, input: { to: string; text: string; clientMsgId: string }) {
  const res = await fetch(`${server.url}/trpc/sendToUser`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ json: input }),
  });
  const body = (await res.json()) as { result?: { data: { json: { seq: number } } }; error?: { json: { message: string; data: { code: string } } } };
  return { status: res.status, seq: body.result?.data.json.seq ?? null, code: body.error?.json.data.code ?? null, message: body.error?.json.message ?? null };
}

describe.skipIf(!mountable)('the embedded store on a full disk', () => {
  it('answers SERVICE_UNAVAILABLE, is not ready, logs once, and commits again once there is room, losing nothing', async () => {
    const dataDir = mountTmpfs(2 * 1024 * 1024);
    const { log, lines } = recordingLogger();
    const server = await createServer(
      defaultConfig({ port: 0, dataDir, jwtSecret: testSecret, sendRateLimit: null, maxTextLength: 4000 }),
      { log },
    );
    cleanups.push(() => server.close());
    const [alice, bob] = await Promise.all([signToken('alice'), signToken('bob')]);
    for (const token of [alice, bob]) await fetch(`${server.url}/trpc/me`, { headers: { authorization: `Bearer ${token}` } });
    // Leave about 200 KiB: a few dozen 4,000-character messages.
    const free = statfsSync(dataDir).bavail * statfsSync(dataDir).bsize;
    const filler = join(dataDir, 'filler');
    writeFileSync(filler, Buffer.alloc(Math.max(0, free - 200 * 1024)));

    const text = 'x'.repeat(4000);
    const stored: number[] = [];
    let failed: Awaited<ReturnType<typeof send>> | null = null;
    let n = 0;
    for (; n < 500 && failed === null; n++) {
      const result = await send(server, alice, { to: 'bob', text, clientMsgId: `m${n}` });
      if (result.seq !== null) stored.push(result.seq);
      else failed = result;
    }
    expect(failed).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE', message: expect.stringContaining('try again') });
    expect(stored.length).toBeGreaterThan(0);
    // More failing writes: still the same answer, and still one log line for the outage.
    for (let i = 0; i < 20; i++) {
      expect(await send(server, alice, { to: 'bob', text, clientMsgId: `m${n - 1}` })).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    }
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    const outage = lines.filter((line) => line.msg.startsWith('SQLite writes are failing'));
    expect(outage).toHaveLength(1);
    expect(lines.filter((line) => line.level >= 50 && line !== outage[0])).toEqual([]);

    rmSync(filler);
    // Readiness tries a write at most once a second: ready again within a few.
    await vi.waitFor(async () => expect((await fetch(`${server.url}/readyz`)).status).toBe(200), { timeout: 5000, interval: 250 });
    // The retry of the send that failed is stored once, with the next seq.
    const retried = await send(server, alice, { to: 'bob', text, clientMsgId: `m${n - 1}` });
    expect(retried.seq).toBe(stored.length + 1);
    expect(lines.some((line) => line.msg === 'SQLite writes commit again')).toBe(true);

    const input = encodeURIComponent(JSON.stringify({ json: { with: 'alice', limit: 200 } }));
    const res = await fetch(`${server.url}/trpc/history?input=${input}`, { headers: { authorization: `Bearer ${bob}` } });
    const history = (await res.json()) as { result: { data: { json: { items: { seq: number }[] } } } };
    expect(history.result.data.json.items.map((m) => m.seq).sort((a, b) => a - b)).toEqual([...stored, retried.seq]);
  });
});
