/**
 * Issue 12: a socket closed in any way leaves nothing behind. Each row closes a socket
 * one way, then checks with the server's own counters (`parley_connections`,
 * `parley_subscriptions`, the per-user and per-address slots), a bus that counts its
 * listeners, the timers made while the row ran that are still pending, and WeakRefs to
 * the server's objects for each socket (its Connection, WebSocket and Outbox), collected
 * under `gc()`: anything still holding one (a timer, a bus or abort listener, a
 * subscription, a server map) keeps it alive.
 */
import { createHook } from 'node:async_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { WebSocket } from 'ws';
import { MemoryBus } from '../server/bus/memory-bus.js';
import type { BusListener } from '../server/bus/bus.js';
import type { Config } from '../server/index.js';
import { Connection } from '../server/transport/ws/connection.js';
import { startServer, type TestServer } from './helpers/server.js';
import { closedWithin, isClose, openRaw, type CloseEvent, type RawConnection, type RawOptions } from './helpers/raw-ws.js';
import { startPausingProxy, type PausingProxy } from './helpers/pausing-proxy.js';
import { metric } from './helpers/metrics.js';

// `gc` in this process without a flag on the command line: flags set before a context is
// made apply to it.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A MemoryBus that counts the listeners subscribed and not yet let go. */
class CountingBus extends MemoryBus {
  listeners = 0;

  override subscribe(userId: string, listener: BusListener): () => void {
    const unsubscribe = super.subscribe(userId, listener);
    this.listeners++;
    let subscribed = true;
    return () => {
      if (subscribed) this.listeners--;
      subscribed = false;
      unsubscribe();
    };
  }
}

/** The server's objects for every socket opened while a row runs. */
const tracked: Array<{ what: string; ref: WeakRef<object> }> = [];
const start = Connection.prototype.start;
beforeAll(() => {
  Connection.prototype.start = function (this: Connection) {
    tracked.push(
      { what: 'Connection', ref: new WeakRef(this) },
      { what: 'WebSocket', ref: new WeakRef(this.ws) },
      { what: 'Outbox', ref: new WeakRef(this.outbox) },
    );
    start.call(this);
  };
});
afterAll(() => {
  Connection.prototype.start = start;
});

/**
 * Timers made since the row began, until they fire or are cleared. Counted this way, not
 * as `process.getActiveResourcesInfo()` against a count taken at the start: vitest's own
 * short timers (its throttled task updates) are in such a count and gone by the end, which
 * hides one that leaked.
 */
const timers = new Map<number, NodeJS.Timeout>();
const timerHook = createHook({
  init(asyncId, type, _triggerAsyncId, resource) {
    if (type === 'Timeout') timers.set(asyncId, resource as NodeJS.Timeout);
  },
  destroy(asyncId) {
    timers.delete(asyncId);
  },
});
beforeAll(() => void timerHook.enable());
afterAll(() => void timerHook.disable());

/** This file's own waits: not the server's. */
const ownTimers = new WeakSet<NodeJS.Timeout>();
const sleep = (ms: number) => new Promise((resolve) => ownTimers.add(setTimeout(resolve, ms)));

/** The server's side of the socket opened last. */
function latestServerSocket(): WebSocket {
  const ws = tracked.findLast((entry) => entry.what === 'WebSocket')?.ref.deref();
  if (ws === undefined) throw new Error('no socket opened yet');
  return ws as WebSocket;
}

/** Pending timers that keep the process alive (unref'd ones, as the heartbeat's, do not). */
function pendingTimers(): number {
  let count = 0;
  for (const timer of timers.values()) if (!ownTimers.has(timer) && timer.hasRef()) count++;
  return count;
}

/** What is still there, once garbage is collected. */
function leftovers(bus: CountingBus): string[] {
  gc();
  const left: string[] = [];
  if (bus.listeners !== 0) left.push(`${bus.listeners} bus listener(s)`);
  const pending = pendingTimers();
  if (pending > 0) left.push(`${pending} timer(s)`);
  const alive = new Map<string, number>();
  for (const { what, ref } of tracked) if (ref.deref() !== undefined) alive.set(what, (alive.get(what) ?? 0) + 1);
  const sockets = tracked.filter((entry) => entry.what === 'Connection').length;
  for (const [what, count] of alive) left.push(`${count} ${what}(s) of ${sockets} socket(s)`);
  return left;
}

/**
 * Waits (bounded) for everything to be let go: the server finishes its side of the close
 * just after the client sees it. What is left after 2 s fails the test (every timer a
 * socket arms runs for longer: the auth deadline, the token's expiry).
 */
async function expectNothingLeft(bus: CountingBus): Promise<void> {
  const deadline = Date.now() + 2000;
  let left = leftovers(bus);
  while (left.length > 0 && Date.now() < deadline) {
    // A turn of its own: a WeakRef read in this turn is kept until it ends.
    await sleep(20);
    left = leftovers(bus);
  }
  expect(left).toEqual([]);
}

/** A socket of `user` with a live onMessage subscription. */
async function subscribed(t: TestServer, user: string, options: RawOptions = {}, url = t.url): Promise<RawConnection> {
  const c = await openRaw(url, { token: await t.token(user), ...options });
  const { reply } = await c.subscribe('onMessage');
  expect(reply).toMatchObject({ result: { type: 'started' } });
  return c;
}

/** Every socket of `user` from this address can be had again: no per-user or per-address slot was kept. */
async function expectSlotsFree(t: TestServer, user: string): Promise<void> {
  const users = [user, ...Array.from({ length: t.config.maxConnectionsPerIp - 1 }, (_, i) => `slot-check-${i}`)];
  const sockets: RawConnection[] = [];
  try {
    // One handshake at a time: a handshake counts against the address's cap until it upgrades.
    for (const u of users) sockets.push(await openRaw(t.url, { token: await t.token(u) }));
    for (const [i, socket] of sockets.entries()) {
      const reply = await socket.call('query', 'me');
      expect(isClose(reply) ? reply : reply.result?.data?.json).toEqual({ userId: users[i] });
    }
  } finally {
    await Promise.all(sockets.map((s) => s.close()));
  }
}

interface Row {
  name: string;
  config?: Partial<Config>;
  /** The close the client sees (null: it depends on what reached the client first). */
  code: number | null;
  /** Its reason label in `parley_connection_closes_total`, when the server counts it. */
  metric?: string;
  /** The user whose socket is closed. */
  user: string;
  /** Closes `user`'s socket the row's way; other sockets it opens go in `others` (closed afterwards). */
  close(t: TestServer, others: RawConnection[]): Promise<CloseEvent>;
  /** The server is gone afterwards: nothing to scrape or connect to. */
  stopsServer?: boolean;
}

const slowClientConfig: Partial<Config> = { sendBufferLimitBytes: 64 * 1024, maxTextLength: 60_000, sendRateLimit: null };
const padding = 'x'.repeat(50_000);
/** Far more than loopback socket buffers hold; the loop stops once the subscription waits. */
const maxBigSends = 400;

/**
 * Bob subscribed through a proxy that has stopped reading for him, sent to until the
 * server has a quarter of its send limit unread for him: his subscription then waits for
 * him (slow-consumer.ts).
 */
async function stalledSubscriber(t: TestServer): Promise<{ bob: RawConnection; proxy: PausingProxy }> {
  const proxy = await startPausingProxy(t.url);
  onTestFinished(() => proxy.close());
  const bob = await subscribed(t, 'bob', {}, proxy.url);
  const server = latestServerSocket();
  const alice = await t.http('alice');
  await alice.me.query();
  proxy.pause();
  const waitsAt = t.config.sendBufferLimitBytes / 4;
  for (let i = 0; i < maxBigSends && server.bufferedAmount < waitsAt; i++) {
    await alice.sendToUser.mutate({ to: 'bob', text: `big ${i}|${padding}` });
  }
  expect(server.bufferedAmount).toBeGreaterThanOrEqual(waitsAt);
  return { bob, proxy };
}

const rows: Row[] = [
  {
    name: 'client close',
    code: 1005,
    user: 'alice',
    close: async (t) => (await subscribed(t, 'alice')).close(),
  },
  {
    name: 'client drops the connection (no close frame)',
    code: 1006,
    user: 'alice',
    async close(t) {
      const c = await subscribed(t, 'alice');
      c.ws.terminate();
      return c.closed;
    },
  },
  {
    name: 'tokenExpired (4001): the token expires while subscribed',
    code: 4001,
    metric: 'token_expired',
    user: 'alice',
    async close(t) {
      // exp has whole seconds: this token lives 1-2 s.
      const c = await openRaw(t.url, { token: await t.token('alice', 2) });
      expect((await c.subscribe('onMessage')).reply).toMatchObject({ result: { type: 'started' } });
      return closedWithin(c, 5000);
    },
  },
  {
    name: 'slowConsumer (4002): a subscriber that stops reading',
    config: slowClientConfig,
    // Its close frame waits behind what it did not read: the socket is destroyed after a grace.
    code: null,
    metric: 'slow_consumer',
    user: 'bob',
    async close(t) {
      const { bob, proxy } = await stalledSubscriber(t);
      const slowCloses = () => metric(t.url, 'parley_connection_closes_total', { reason: 'slow_consumer' });
      // Closed once it has taken nothing for a few seconds while its subscription waited.
      for (let i = 0; i < 200 && (await slowCloses()) === 0; i++) await sleep(50);
      // The client gets what was held, then the end of the connection.
      proxy.resume();
      return closedWithin(bob, 5000);
    },
  },
  {
    name: 'the connection is cut while its subscription waits for the client to read',
    config: slowClientConfig,
    code: 1006,
    user: 'bob',
    async close(t) {
      const { bob, proxy } = await stalledSubscriber(t);
      await proxy.close();
      return closedWithin(bob, 5000);
    },
  },
  {
    name: 'shuttingDown (4003): server shutdown',
    code: 4003,
    user: 'alice',
    stopsServer: true,
    async close(t) {
      const c = await subscribed(t, 'alice');
      await t.stop();
      return c.closed;
    },
  },
  {
    name: 'authTimeout (4004): no connectionParams in time',
    config: { authTimeoutMs: 300 },
    code: 4004,
    metric: 'auth_timeout',
    user: 'alice',
    close: async (t) => closedWithin(await openRaw(t.url, { connectionParams: true }), 5000),
  },
  {
    name: 'tokenRefused (4401): a token that is not a JWT',
    code: 4401,
    metric: 'token_invalid',
    user: 'alice',
    async close(t) {
      const c = await openRaw(t.url, { token: 'not.a.jwt' });
      const { reply } = await c.subscribe('onMessage');
      expect(isClose(reply) ? reply : reply.error?.json?.data?.code).toBe('UNAUTHORIZED');
      return closedWithin(c, 5000);
    },
  },
  {
    name: 'userLimit (4408): one socket more than the user may have',
    code: 4408,
    metric: 'user_limit',
    user: 'alice',
    async close(t, others) {
      others.push(await subscribed(t, 'alice'));
      const c = await openRaw(t.url, { token: await t.token('alice') });
      c.send({ id: 1, method: 'subscription', params: { path: 'onMessage', input: { json: {} } } });
      return closedWithin(c, 5000);
    },
  },
  {
    name: 'ipLimit (4408): one socket more than the address may have',
    code: 4408,
    metric: 'ip_limit',
    user: 'alice',
    async close(t, others) {
      for (let i = 0; i < t.config.maxConnectionsPerIp; i++) others.push(await subscribed(t, `user-${i}`));
      const c = await openRaw(t.url, { token: await t.token('alice') });
      return closedWithin(c, 5000);
    },
  },
  {
    name: 'heartbeat: a dead peer that stops answering pings',
    config: { heartbeatMs: 250 },
    // Terminated, no close frame.
    code: 1006,
    metric: 'dead_peer',
    user: 'alice',
    close: async (t) => closedWithin(await subscribed(t, 'alice', { autoPong: false }), 5000),
  },
  {
    name: 'max payload (1009): a frame over maxPayload',
    config: { maxPayloadBytes: 4096 },
    code: 1009,
    metric: 'max_payload',
    user: 'alice',
    async close(t) {
      const c = await subscribed(t, 'alice');
      c.send('x'.repeat(4097));
      return closedWithin(c, 5000);
    },
  },
  {
    name: 'context refused: malformed connectionParams',
    code: 1005,
    user: 'alice',
    async close(t) {
      const c = await openRaw(t.url, { connectionParams: true });
      c.send('not json');
      return closedWithin(c, 5000);
    },
  },
];

describe('a socket closed in any way leaves nothing behind', () => {
  it.each(rows)('$name', async (row) => {
    const bus = new CountingBus();
    // Caps small enough that a slot never given back shows; a server per row, so every count starts at 0.
    await using t = await startServer({ maxConnectionsPerIp: 3, maxConnectionsPerUser: 1, ...row.config }, { bus });
    tracked.length = 0;
    timers.clear();

    const others: RawConnection[] = [];
    const closed = await row.close(t, others);
    if (row.code !== null) expect(closed.code).toBe(row.code);
    await Promise.all(others.map((c) => c.close()));

    expect(tracked.length).toBeGreaterThan(0);
    await expectNothingLeft(bus);
    if (row.stopsServer) return;
    // Read once the server has let go of the socket (it may count a close after the client saw it).
    if (row.metric !== undefined) {
      expect(await metric(t.url, 'parley_connection_closes_total', { reason: row.metric })).toBe(1);
    }
    expect(await metric(t.url, 'parley_connections')).toBe(0);
    expect(await metric(t.url, 'parley_subscriptions')).toBe(0);
    await expectSlotsFree(t, row.user);
  });
});
