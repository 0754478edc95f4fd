import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SqliteStore } from '../../server/store/sqlite-store.js';
import { createLogger } from '../../server/log.js';
import { startServer, tempDir } from '../helpers/server.js';
import { openRaw, type RawConnection } from '../helpers/raw-ws.js';

const users = 4;
const perUser = 5000;
const subscriptionsPerUser = 10;
/**
 * A bystander's ack round trip, median over its sends while the replays run: generous (about 4 ms
 * idle and 10-16 ms during the replays here, on a loaded 2-core machine; 150 ms and more when every
 * replay ran at once in pages of 500 without yielding).
 */
const medianBoundMs = 75;

/** The tracked id ending a data frame, read without parsing the frame. */
const trackedId = /"id":"(\d+)"\}\}$/;

describe('many subscriptions replaying long streams at once', () => {
  it('do not crowd out a bystander’s sends, and each still gets every message exactly once, in order', async () => {
    const storeDir = tempDir();
    onTestFinished(() => rmSync(storeDir, { recursive: true, force: true }));
    const store = new SqliteStore(join(storeDir, 'parley.db'), createLogger('silent'));
    await using t = await startServer({ sendRateLimit: null }, { store });
    // Built through the store, not sent: what is measured is the replays, not the setup.
    await store.ensureUser('sender');
    for (let u = 0; u < users; u++) {
      await store.ensureUser(`reader${u}`);
      for (let from = 0; from < perUser; from += 1000) {
        await Promise.all(
          Array.from({ length: 1000 }, (_, i) =>
            store.append({ from: 'sender', to: `reader${u}`, text: `m${from + i}`, clientMsgId: null }),
          ),
        );
      }
    }

    const bystander = await t.client('bystander');
    await (await t.http('friend')).me.query();
    const roundTrip = async (text: string) => {
      const start = performance.now();
      await bystander.sendToUser.mutate({ to: 'friend', text });
      return performance.now() - start;
    };
    const idle: number[] = [];
    for (let i = 0; i < 20; i++) idle.push(await roundTrip(`idle${i}`));

    // Raw sockets that read each frame's tracked id only: the replays' cost stays the server's.
    const conns: RawConnection[] = [];
    const problems: string[] = [];
    const done: Array<Promise<void>> = [];
    for (let u = 0; u < users; u++) {
      const conn = await openRaw(t.url, { token: await t.token(`reader${u}`) });
      conns.push(conn);
      conn.ws.removeAllListeners('message');
      const next = new Map<number, number>();
      const finished = new Map<number, () => void>();
      conn.ws.on('message', (data: Buffer) => {
        const text = data.toString();
        const sub = Number(/^\{"id":(\d+)/.exec(text)?.[1]);
        const seq = trackedId.exec(text)?.[1];
        if (seq === undefined) return;
        const want = next.get(sub) ?? 1;
        if (Number(seq) !== want) problems.push(`reader${u} subscription ${sub}: seq ${seq} where ${want} was due`);
        next.set(sub, Number(seq) + 1);
        if (Number(seq) === perUser) finished.get(sub)?.();
      });
      for (let s = 1; s <= subscriptionsPerUser; s++) {
        done.push(new Promise((resolve) => finished.set(s, resolve)));
        conn.send({ id: s, method: 'subscription', params: { path: 'onMessage', input: { json: { lastEventId: '0' } } } });
      }
    }

    let replaying = true;
    const allDone = Promise.all(done).then(() => (replaying = false));
    const roundTrips: number[] = [];
    for (let i = 0; replaying && i < 2000; i++) {
      roundTrips.push(await roundTrip(`b${i}`));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await allDone;

    roundTrips.sort((a, b) => a - b);
    const median = roundTrips[Math.floor(roundTrips.length / 2)] ?? 0;
    idle.sort((a, b) => a - b);
    const figures =
      `bystander acks idle: median ${idle[10]?.toFixed(1)} ms; during ${users * subscriptionsPerUser} replays of ${perUser}: ` +
      `n=${roundTrips.length} median ${median.toFixed(1)} ms, max ${roundTrips.at(-1)?.toFixed(1)} ms`;
    expect(problems).toEqual([]);
    expect(roundTrips.length, figures).toBeGreaterThanOrEqual(10);
    expect(median, figures).toBeLessThan(medianBoundMs);
    await Promise.all(conns.map((c) => c.close()));
  }, 120_000);
});
