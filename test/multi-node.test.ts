/**
 * Several Parley nodes, each its own process, sharing one PostgreSQL schema and one Redis
 * (with a channel prefix of their own), as they would run behind a load balancer.
 */
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createParleyClient,
  memoryCursorStore,
  subscribeMessages,
  type Message,
  type ParleyClient,
} from '@parley/sdk';
import { signToken, tempDir, testSecret } from './helpers/server.js';
import { collect } from './helpers/collect.js';
import { createTestSchema, postgresAvailable, type TestSchema } from './helpers/postgres.js';
import { killRedisClients, redisAvailable, testRedisUrl, uniquePrefix } from './helpers/redis.js';
import { bundleNode, startNodeProcess, type NodeBundle, type NodeProcess } from './helpers/node-process.js';

const servicesUp = (await postgresAvailable()) && (await redisAvailable());

describe.skipIf(!servicesUp)('several nodes on PostgreSQL and Redis', () => {
  let schema: TestSchema;
  let bundle: NodeBundle;
  const redisPrefix = uniquePrefix('nodes');
  const nodes: NodeProcess[] = [];
  const dataDirs: string[] = [];
  let a: NodeProcess;
  let b: NodeProcess;

  async function startNode(): Promise<NodeProcess> {
    const dataDir = tempDir('parley-node-');
    dataDirs.push(dataDir);
    const node = await startNodeProcess(bundle, {
      PORT: '0',
      HOST: '127.0.0.1',
      PARLEY_DATA_DIR: dataDir,
      // Every node must sign and check tokens with the same secret.
      PARLEY_JWT_SECRET: testSecret,
      PARLEY_DATABASE_URL: schema.url,
      PARLEY_REDIS_URL: testRedisUrl,
      PARLEY_REDIS_PREFIX: redisPrefix,
      PARLEY_LOG_LEVEL: 'warn',
      // These tests send hundreds of messages per user as fast as they can.
      PARLEY_RATE_LIMIT: 'off',
    });
    nodes.push(node);
    return node;
  }

  beforeAll(async () => {
    [schema, bundle] = await Promise.all([createTestSchema('nodes'), bundleNode()]);
    // Both start at once: they race for the migration lock.
    [a, b] = await Promise.all([startNode(), startNode()]);
  });

  afterAll(async () => {
    try {
      await Promise.all(nodes.map((node) => node.stop()));
    } finally {
      bundle?.remove();
      for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
      await schema?.drop();
    }
  });

  const clients: ParleyClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  let run = 0;
  /** User ids of their own for each test, as the tests share one database. */
  function users<const N extends string>(...names: N[]): Record<N, string> {
    run++;
    return Object.fromEntries(names.map((n) => [n, `${n}-${run}`])) as Record<N, string>;
  }

  async function client(userId: string, url: string | string[]): Promise<ParleyClient> {
    const c = createParleyClient({ url, token: await signToken(userId) });
    clients.push(c);
    await c.me.query();
    return c;
  }

  const seqsUpTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  it('delivers live both ways between alice on node A and bob on node B', async () => {
    const u = users('alice', 'bob');
    const alice = await client(u.alice, a.url);
    const bob = await client(u.bob, b.url);
    const aliceInbox = collect(alice);
    const bobInbox = collect(bob);

    const toBob = await alice.sendToUser.mutate({ to: u.bob, text: 'hello from A' });
    await vi.waitFor(() => expect(bobInbox.messages).toEqual([toBob]));
    expect(bobInbox.messages[0]?.sentAt).toBeInstanceOf(Date);
    const toAlice = await bob.sendToUser.mutate({ to: u.alice, text: 'hello from B' });
    await vi.waitFor(() => expect(aliceInbox.messages).toEqual([toAlice]));
    expect(toAlice.from).toBe(u.bob);
  });

  it('gives bob, with one connection on each node, every message exactly once per connection', async () => {
    const u = users('alice', 'bob');
    const aliceOnA = await client(u.alice, a.url);
    const aliceOnB = await client(u.alice, b.url);
    const bobOnA = collect(await client(u.bob, a.url));
    const bobOnB = collect(await client(u.bob, b.url));
    for (let i = 1; i <= 40; i++) {
      await (i % 2 ? aliceOnA : aliceOnB).sendToUser.mutate({ to: u.bob, text: `m${i}` });
    }
    const texts = Array.from({ length: 40 }, (_, i) => `m${i + 1}`);
    await vi.waitFor(() => {
      expect(bobOnA.texts()).toEqual(texts);
      expect(bobOnB.texts()).toEqual(texts);
    });
    expect(bobOnA.seqs()).toEqual(seqsUpTo(40));
    expect(bobOnB.seqs()).toEqual(seqsUpTo(40));
  });

  it(
    'gives one user the gapless seqs 1..1000, each sender in order, when 4 senders on both nodes send 250 each at once',
    async () => {
      const u = users('target', 's1', 's2', 's3', 's4');
      const senders = [u.s1, u.s2, u.s3, u.s4];
      const inbox = collect(await client(u.target, a.url));
      const sendersClients = await Promise.all(senders.map((s, i) => client(s, i % 2 ? b.url : a.url)));
      const returned = await Promise.all(
        sendersClients.map(async (c, s) => {
          const seqs: number[] = [];
          for (let i = 0; i < 250; i++) {
            seqs.push((await c.sendToUser.mutate({ to: u.target, text: `${senders[s]} ${i}` })).seq);
          }
          return seqs;
        }),
      );
      expect(returned.flat().sort((x, y) => x - y)).toEqual(seqsUpTo(1000));
      for (const seqs of returned) expect(seqs).toEqual([...seqs].sort((x, y) => x - y));

      await vi.waitFor(() => expect(inbox.messages).toHaveLength(1000), 20_000);
      expect(inbox.seqs()).toEqual(seqsUpTo(1000));
      for (const sender of senders) {
        const texts = inbox.messages.filter((m) => m.from === sender).map((m) => m.text);
        expect(texts).toEqual(Array.from({ length: 250 }, (_, i) => `${sender} ${i}`));
      }
    },
    60_000,
  );

  it('stores one message when the same clientMsgId is sent through both nodes at once', async () => {
    const u = users('alice', 'bob');
    const onA = await client(u.alice, a.url);
    const onB = await client(u.alice, b.url);
    const bobInbox = collect(await client(u.bob, b.url));
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        (i % 2 ? onA : onB).sendToUser.mutate({ to: u.bob, text: 'once', clientMsgId: 'same-id' }),
      ),
    );
    expect(new Set(results.map((m) => m.id)).size).toBe(1);
    const marker = await onA.sendToUser.mutate({ to: u.bob, text: 'marker' });
    await vi.waitFor(() => expect(bobInbox.texts()).toEqual(['once', 'marker']));
    expect(marker.seq).toBe(2);
  });

  it('resumes on the other node from lastEventId, and delivers what was sent offline once, not again after ack', async () => {
    const u = users('alice', 'bob');
    const alice = await client(u.alice, a.url);
    await client(u.bob, b.url);
    for (const text of ['offline 1', 'offline 2', 'offline 3']) await alice.sendToUser.mutate({ to: u.bob, text });

    // Without lastEventId: after the acknowledged position (none yet), acking as it goes.
    const bobOnB = await client(u.bob, b.url);
    const got: Message[] = [];
    const sub = subscribeMessages(bobOnB, (m) => void got.push(m), { cursorStore: memoryCursorStore() });
    await vi.waitFor(() => expect(got.map((m) => m.text)).toEqual(['offline 1', 'offline 2', 'offline 3']));
    await vi.waitFor(async () => expect((await bobOnB.conversations.query())[0]?.unread).toBe(0));
    sub.unsubscribe();

    // On the other node, without lastEventId: nothing acknowledged comes again.
    const bobOnA = collect(await client(u.bob, a.url));
    // With lastEventId on the other node: exactly what follows it.
    const fromTwo = collect(await client(u.bob, a.url), { lastEventId: '2' });
    const next = await alice.sendToUser.mutate({ to: u.bob, text: 'live' });
    await vi.waitFor(() => expect(bobOnA.messages).toEqual([next]));
    await vi.waitFor(() => expect(fromTwo.texts()).toEqual(['offline 3', 'live']));
  });

  it(
    'moves bob to node A when his node is SIGKILLed while alice keeps sending, with every message exactly once, in order',
    async () => {
      const u = users('alice', 'bob');
      const doomed = await startNode();
      const alice = await client(u.alice, a.url);
      const bob = await client(u.bob, [doomed.url, a.url]);
      const inbox = collect(bob);

      const sent: Message[] = [];
      let killed = false;
      let sentAfterKill = 0;
      const sending = (async () => {
        while (sentAfterKill < 60) {
          sent.push(await alice.sendToUser.mutate({ to: u.bob, text: `m${sent.length + 1}` }));
          if (killed) sentAfterKill++;
        }
      })();
      await vi.waitFor(() => expect(inbox.messages.length).toBeGreaterThanOrEqual(20));
      doomed.child.kill('SIGKILL');
      killed = true;
      await sending;

      await vi.waitFor(() => expect(inbox.seqs()).toEqual(seqsUpTo(sent.length)), 20_000);
      expect(inbox.messages).toEqual(sent);
      expect(bob.connectionState).toBe('connected');
      expect(doomed.child.signalCode).toBe('SIGKILL');
    },
    60_000,
  );

  it(
    'loses and doubles nothing when the nodes’ Redis connections are killed while messages flow',
    async () => {
      const u = users('alice', 'bob');
      const alice = await client(u.alice, a.url);
      const inbox = collect(await client(u.bob, b.url));

      const sent: Message[] = [];
      let kills = 0;
      const sending = (async () => {
        for (let i = 1; i <= 200; i++) sent.push(await alice.sendToUser.mutate({ to: u.bob, text: `m${i}` }));
      })();
      for (const threshold of [30, 100]) {
        await vi.waitFor(() => expect(inbox.messages.length).toBeGreaterThanOrEqual(threshold), 10_000);
        // Both nodes' publisher and subscriber connections.
        kills += await killRedisClients(redisPrefix);
      }
      await sending;

      await vi.waitFor(() => expect(inbox.seqs()).toEqual(seqsUpTo(200)), 20_000);
      expect(inbox.messages).toEqual(sent);
      expect(kills).toBeGreaterThanOrEqual(4);
    },
    60_000,
  );
});
