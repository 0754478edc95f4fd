/**
 * A node whose PostgreSQL or Redis connections die under it (a database restart or
 * failover terminates every session; a network path is cut) while sends are in flight.
 * The node is a process of its own, so an unhandled 'error' event would kill it, as it
 * would in production: it must stay up, answer the affected calls with the retryable
 * SERVICE_UNAVAILABLE, and serve again once the service is back, losing nothing that
 * was acknowledged and storing nothing twice.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { signToken, tempDir, testSecret } from '../helpers/server.js';
import { createTestSchema, postgresAvailable, postgresTcpTarget, testDatabaseUrl, type TestSchema } from '../helpers/postgres.js';
import { redisAvailable, redisTcpTarget, uniquePrefix } from '../helpers/redis.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { bundleNode, startNodeProcess, type NodeProcess } from '../helpers/node-process.js';

const postgresUp = await postgresAvailable();
const redisUp = await redisAvailable();

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function testSchema(): Promise<TestSchema> {
  const schema = await createTestSchema('connloss');
  cleanups.push(() => schema.drop());
  return schema;
}

async function startNode(env: Record<string, string>): Promise<NodeProcess> {
  const bundle = await bundleNode();
  const dataDir = tempDir('parley-connloss-');
  const node = await startNodeProcess(bundle, {
    PORT: '0',
    HOST: '127.0.0.1',
    PARLEY_DATA_DIR: dataDir,
    PARLEY_JWT_SECRET: testSecret,
    PARLEY_LOG_LEVEL: 'warn',
    PARLEY_RATE_LIMIT: 'off',
    ...env,
  });
  cleanups.push(async () => {
    await node.stop();
    bundle.remove();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return node;
}

/** `url` with a connection option set (a connection string's options win over the store's own). */
function withParam(url: string, key: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(key, value);
  return u.toString();
}

interface SendOutcome {
  /** Error codes of the attempts that failed before one succeeded. */
  failures: string[];
  seq: number;
}

/**
 * One send over HTTP, retried with the same clientMsgId the way the SDK does, until it
 * is acknowledged (bounded). Any attempt that fails other than with a tRPC error (the
 * node is gone) throws.
 */
async function sendUntilStored(url: string, token: string, input: { to: string; text: string; clientMsgId: string }): Promise<SendOutcome> {
  const failures: string[] = [];
  for (let attempt = 0; attempt < 60; attempt++) {
    const res = await fetch(`${url}/trpc/sendToUser`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ json: input }),
    });
    const body = (await res.json()) as { result?: { data: { json: { seq: number } } }; error?: { json: { data: { code: string } } } };
    if (body.result) return { failures, seq: body.result.data.json.seq };
    failures.push(body.error?.json.data.code ?? `HTTP ${res.status}`);
    await new Promise((resolve) => setTimeout(resolve, 50 + attempt * 25));
  }
  throw new Error(`send ${input.clientMsgId} never succeeded: ${failures.join(', ')}`);
}

/** 32 senders, `perSender` sends each, all to `to`; resolves every outcome, and fails with the node's log if it died. */
async function sendStorm(node: NodeProcess, to: string, perSender: number, onProgress: () => void): Promise<SendOutcome[]> {
  try {
    return await sendStormTo(node.url, to, perSender, onProgress);
  } catch (error) {
    throw new Error(`the storm failed; node ${node.child.exitCode === null ? 'running' : `exited ${node.child.exitCode}`}:\n${node.output()}`, { cause: error });
  }
}

async function sendStormTo(url: string, to: string, perSender: number, onProgress: () => void): Promise<SendOutcome[]> {
  const senders = await Promise.all(Array.from({ length: 32 }, async (_, i) => ({ id: `sender${i}`, token: await signToken(`sender${i}`) })));
  // A valid token makes its user known: the recipient must be, before anyone sends to it.
  const known = await fetch(`${url}/trpc/me`, { headers: { authorization: `Bearer ${await signToken(to)}` } });
  expect(known.status).toBe(200);
  const outcomes: SendOutcome[] = [];
  await Promise.all(
    senders.map(async (sender) => {
      for (let n = 0; n < perSender; n++) {
        outcomes.push(await sendUntilStored(url, sender.token, { to, text: `${sender.id} #${n}`, clientMsgId: `${sender.id}-${n}` }));
        onProgress();
      }
    }),
  );
  return outcomes;
}

/**
 * Runs the storm (32 senders × 8 sends) and `fault` once each time the count of
 * acknowledged sends passes one of `at` (all below the total, so every fault happens).
 */
async function stormWithFaults(node: NodeProcess, to: string, at: number[], fault: () => Promise<void>): Promise<SendOutcome[]> {
  let sent = 0;
  const faults = (async () => {
    for (const threshold of at) {
      while (sent < threshold) await new Promise((resolve) => setTimeout(resolve, 5));
      await fault();
    }
  })();
  const outcomes = await sendStorm(node, to, 8, () => sent++);
  await faults;
  return outcomes;
}

/** The recipient's stream as stored: every seq once, and the texts, by reading history of each sender. */
async function expectStoredOnce(url: string, to: string, outcomes: SendOutcome[]): Promise<void> {
  const token = await signToken(to);
  const seqs: number[] = [];
  for (let i = 0; i < 32; i++) {
    const input = encodeURIComponent(JSON.stringify({ json: { with: `sender${i}`, limit: 200 } }));
    const res = await fetch(`${url}/trpc/history?input=${input}`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { result: { data: { json: { items: { seq: number }[] } } } };
    seqs.push(...body.result.data.json.items.map((m) => m.seq));
  }
  expect(seqs.length).toBe(outcomes.length);
  expect(new Set(seqs).size).toBe(seqs.length);
  expect(new Set(outcomes.map((o) => o.seq))).toEqual(new Set(seqs));
}

async function expectServing(node: NodeProcess): Promise<void> {
  expect(node.child.exitCode, node.output()).toBeNull();
  expect((await fetch(`${node.url}/readyz`)).status).toBe(200);
}

describe.skipIf(!postgresUp)('a node on PostgreSQL whose connections die while sends are in flight', () => {
  it('does not crash when PostgreSQL terminates its sessions (a restart or failover), answers SERVICE_UNAVAILABLE, and recovers', async () => {
    const schema = await testSchema();
    const appName = `parley-connloss-${Math.random().toString(36).slice(2, 10)}`;
    const node = await startNode({ PARLEY_DATABASE_URL: withParam(schema.url, 'application_name', appName) });
    const admin = new pg.Client({ connectionString: testDatabaseUrl });
    await admin.connect();
    cleanups.push(() => admin.end());
    let terminated = 0;
    const terminate = async () => {
      const { rowCount } = await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [appName],
      );
      terminated += rowCount ?? 0;
    };
    const outcomes = await stormWithFaults(node, 'inbox', [40, 110, 180], terminate);

    expect(terminated).toBeGreaterThan(0);
    await expectServing(node);
    // What the callers saw while the sessions died: retryable errors only, never a 500.
    const failures = outcomes.flatMap((o) => o.failures);
    expect(failures.filter((code) => code !== 'SERVICE_UNAVAILABLE')).toEqual([]);
    await expectStoredOnce(node.url, 'inbox', outcomes);
  });

  it('does not crash when the network path to PostgreSQL is cut mid-send, and serves again once it is back', async () => {
    const schema = await testSchema();
    const proxy = await startTcpProxy(postgresTcpTarget());
    cleanups.push(() => proxy.close());
    const url = new URL(schema.url);
    url.hostname = '127.0.0.1';
    url.port = new URL(proxy.url).port;
    const node = await startNode({ PARLEY_DATABASE_URL: url.toString() });

    const outcomes = await stormWithFaults(node, 'inbox', [40, 110, 180], async () => {
      await proxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await proxy.resume();
    });

    await expectServing(node);
    const failures = outcomes.flatMap((o) => o.failures);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.filter((code) => code !== 'SERVICE_UNAVAILABLE')).toEqual([]);
    await expectStoredOnce(node.url, 'inbox', outcomes);
  });
});

describe.skipIf(!postgresUp || !redisUp)('a node whose Redis connections are cut while sends are in flight', () => {
  it('does not crash, keeps acknowledging sends, and is ready again once Redis is back', async () => {
    const schema = await testSchema();
    const proxy = await startTcpProxy(redisTcpTarget());
    cleanups.push(() => proxy.close());
    const node = await startNode({
      PARLEY_DATABASE_URL: schema.url,
      PARLEY_REDIS_URL: `redis://127.0.0.1:${new URL(proxy.url).port}`,
      PARLEY_REDIS_PREFIX: uniquePrefix('connloss'),
    });

    const outcomes = await stormWithFaults(node, 'inbox', [40, 110, 180], async () => {
      await proxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await proxy.resume();
    });

    // Sends never wait on the doorbell: none failed.
    expect(outcomes.flatMap((o) => o.failures)).toEqual([]);
    expect(node.child.exitCode, node.output()).toBeNull();
    // ioredis reconnects with a backoff: give it a few seconds.
    for (let i = 0; i < 50 && (await fetch(`${node.url}/readyz`)).status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await expectServing(node);
    await expectStoredOnce(node.url, 'inbox', outcomes);
  });
});
