import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { initTRPC } from '@trpc/server';
import type { RawData, WebSocket } from 'ws';
import { transformer } from '../server/router/transformer.js';
import { createDirectCalls } from '../server/transport/direct-calls.js';
import { createMessageProcedures } from '../server/router/message-procedures.js';
import type { Context } from '../server/router/trpc.js';
import type { MessagesPort } from '../server/router/ports.js';
import type { Message } from '../server/messages/message.js';
import { startServer } from './helpers/server.js';
import { isClose, openRaw, within, type RawConnection, type RawReply } from './helpers/raw-ws.js';

/**
 * A request as one frame (the direct path takes it) and as a batch of one (only tRPC
 * serves batches): the two replies must be the same but for their ids.
 */
async function bothWays(conn: RawConnection, n: number, request: Record<string, unknown>) {
  const direct = `direct-${n}`;
  const viaTrpc = `trpc-${n}`;
  conn.send({ id: direct, ...request });
  const first = await conn.reply(direct);
  conn.send([{ id: viaTrpc, ...request }]);
  const second = await conn.reply(viaTrpc);
  if (isClose(first) || isClose(second)) throw new Error('the socket closed');
  return { direct: { ...first, id: null }, trpc: { ...second, id: null } };
}

/** Every frame of call `id` so far, without its id. */
const framesOf = (conn: RawConnection, id: unknown) =>
  conn.frames.filter((f) => (f as RawReply | null)?.id === id).map((f) => ({ ...(f as RawReply), id: null }));

async function until(what: string, check: () => boolean): Promise<void> {
  await within(
    (async () => {
      while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    5000,
    what,
  );
}

const send = (input: Record<string, unknown>) => ({
  method: 'mutation',
  params: { path: 'sendToUser', input: { json: input } },
});
const subscribe = (input: Record<string, unknown> = {}, lastEventId?: string) => ({
  method: 'subscription',
  params: { path: 'onMessage', input: { json: input }, ...(lastEventId === undefined ? {} : { lastEventId }) },
});

describe('per-message procedures beneath tRPC (transport/direct-calls.ts)', () => {
  it('answer sends and acks with the very frames tRPC sends, errors included', async () => {
    await using t = await startServer({ maxTextLength: 100 });
    await t.client('bob');
    const alice = await openRaw(t.url, { token: await t.token('alice') });
    const cases: Array<[string, Record<string, unknown>, (reply: RawReply) => void]> = [
      ['a send', send({ to: 'bob', text: 'hi', clientMsgId: 'c1' }), (r) => expect(r.result?.data?.json).toMatchObject({ seq: 1 })],
      ['a send as JSON-RPC 2.0', { jsonrpc: '2.0', ...send({ to: 'bob', text: 'yo', clientMsgId: 'c2' }) }, (r) => expect(r).toMatchObject({ jsonrpc: '2.0' })],
      ['an unknown recipient', send({ to: 'ghost', text: 'boo' }), (r) => expect(r.error?.json?.data?.code).toBe('NOT_FOUND')],
      ['a reused clientMsgId', send({ to: 'bob', text: 'other', clientMsgId: 'c1' }), (r) => expect(r.error?.json?.data?.code).toBe('CONFLICT')],
      ['invalid input', send({ to: 'bob', text: ' ' }), (r) => expect(r.error?.json?.data?.code).toBe('BAD_REQUEST')],
      ['an ack', { method: 'mutation', params: { path: 'ack', input: { json: { upTo: 5 } } } }, (r) => expect(r.result?.data?.json).toEqual({ ackedSeq: 0 })],
    ];
    let n = 0;
    for (const [what, request, check] of cases) {
      const { direct, trpc } = await bothWays(alice, ++n, request);
      expect(direct, what).toEqual(trpc);
      check(direct);
    }
    const anonymous = await openRaw(t.url, { token: undefined });
    const { direct, trpc } = await bothWays(anonymous, ++n, send({ to: 'bob', text: 'hi' }));
    expect(direct).toEqual(trpc);
    expect(direct.error?.json?.data?.code).toBe('UNAUTHORIZED');
    await Promise.all([alice.close(), anonymous.close()]);
  });

  it('answers a rate-limited send as tRPC does: TOO_MANY_REQUESTS with retryAfterMs', async () => {
    await using t = await startServer({ sendRateLimit: { perSecond: 0.1, burst: 1 } });
    await t.client('bob');
    const alice = await openRaw(t.url, { token: await t.token('alice') });
    await expect(alice.call('mutation', 'sendToUser', { to: 'bob', text: 'first' })).resolves.toMatchObject({
      result: { type: 'data' },
    });
    const { direct, trpc } = await bothWays(alice, 1, send({ to: 'bob', text: 'second' }));
    for (const reply of [direct, trpc]) {
      expect(reply.error?.json?.data).toMatchObject({ code: 'TOO_MANY_REQUESTS', retryAfterMs: expect.any(Number) });
      expect(reply.error?.json?.message).toMatch(/^Too many messages: try again in \d+ s$/);
    }
    await alice.close();
  });

  it('streams onMessage with the very frames tRPC sends: started, replay, live, stopped', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    await t.client('bob');
    await alice.sendToUser.mutate({ to: 'bob', text: 'stored 1' });
    await alice.sendToUser.mutate({ to: 'bob', text: 'stored 2' });
    const bob = await openRaw(t.url, { token: await t.token('bob') });
    // One subscription served directly, one by tRPC (a batch of one), one resumed.
    bob.send({ id: 'direct', ...subscribe() });
    bob.send([{ id: 'trpc', ...subscribe() }]);
    bob.send({ id: 'resumed', ...subscribe({}, '1') });
    await until('three subscriptions replay', () => framesOf(bob, 'direct').length === 3 && framesOf(bob, 'trpc').length === 3);
    await alice.sendToUser.mutate({ to: 'bob', text: 'live 3' });
    await until('the live message arrives', () => framesOf(bob, 'direct').length === 4 && framesOf(bob, 'trpc').length === 4);
    bob.send({ id: 'direct', method: 'subscription.stop' });
    bob.send({ id: 'trpc', method: 'subscription.stop' });
    await until('both stop', () => framesOf(bob, 'direct').length === 5 && framesOf(bob, 'trpc').length === 5);

    const direct = framesOf(bob, 'direct');
    expect(direct).toEqual(framesOf(bob, 'trpc'));
    expect(direct.map((f) => f.result?.type)).toEqual(['started', 'data', 'data', 'data', 'stopped']);
    expect(direct.slice(1, 4).map((f) => f.result?.id)).toEqual(['1', '2', '3']);
    expect(direct[3]?.result?.data).toMatchObject({
      json: { id: '3', data: { seq: 3, text: 'live 3' } },
      meta: { values: { 'data.sentAt': ['Date'] } },
    });
    expect(framesOf(bob, 'resumed').map((f) => f.result?.id)).toEqual([undefined, '2', '3']);
    await bob.close();
  });

  it('refuses a duplicate subscription id and a subscription past the cap as tRPC does', async () => {
    await using t = await startServer({ maxSubscriptionsPerConnection: 1 });
    const bob = await openRaw(t.url, { token: await t.token('bob') });
    bob.send({ id: 1, ...subscribe() });
    await until('started', () => framesOf(bob, 1).length === 1);
    bob.send({ id: 1, ...subscribe() });
    await until('the duplicate is refused', () => framesOf(bob, 1).length === 2);
    expect(framesOf(bob, 1)[1]?.error?.json).toMatchObject({ message: 'Duplicate id 1', data: { code: 'BAD_REQUEST' } });

    bob.send({ id: 'direct', ...subscribe() });
    bob.send([{ id: 'trpc', ...subscribe() }]);
    await until('both are refused', () => framesOf(bob, 'direct').length === 3 && framesOf(bob, 'trpc').length === 3);
    expect(framesOf(bob, 'direct')).toEqual(framesOf(bob, 'trpc'));
    expect(framesOf(bob, 'direct').map((f) => f.result?.type ?? f.error?.json?.data?.code)).toEqual([
      'started',
      'TOO_MANY_REQUESTS',
      'stopped',
    ]);
    await bob.close();
  });

  describe('routing', () => {
    const router = initTRPC.context<Context>().create({ transformer }).router({});
    const message: Message = {
      id: '1',
      seq: 1,
      from: 'bob',
      to: 'alice',
      text: 'hi',
      clientMsgId: null,
      sentAt: new Date(0),
    };
    const messages: MessagesPort = {
      send: (input) => Promise.resolve({ ...message, ...input }),
      stream: async function* () {
        yield message;
      },
      ack: (_userId, upTo) => Promise.resolve(upTo),
      history: () => Promise.resolve([]),
      conversations: () => Promise.resolve([]),
    };
    const procedures = createMessageProcedures({
      messages,
      maxTextLength: 100,
      maxSubscriptionsPerConnection: 10,
      sendLimiter: null,
      inFlight: { track: (work) => work() },
      metrics: {
        messageSent: () => {},
        messageDelivered: () => {},
        rateLimited: () => {},
        subscriptionOpened: () => {},
        subscriptionClosed: () => {},
      },
    });
    const ctx = (userId: string | null): Context => ({
      userId,
      authError: null,
      clientIp: null,
      connection: { subscriptions: 0, backpressure: () => null },
    });

    /** A socket whose 'message' listener stands for tRPC's handler and records what reaches it. */
    async function socket(context: Context | undefined) {
      const ws = Object.assign(new EventEmitter(), { OPEN: 1, readyState: 1, sent: [] as string[] });
      Object.assign(ws, { send: (frame: string) => ws.sent.push(frame) });
      const toTrpc: string[] = [];
      ws.on('message', (data: RawData) => toTrpc.push(String(data)));
      const direct = createDirectCalls({ router, procedures, onError: () => {} });
      direct.attach(ws as unknown as WebSocket);
      if (context !== undefined) await direct.trackContext(ws as unknown as WebSocket, Promise.resolve(context));
      const deliver = (frame: unknown, isBinary = false) =>
        ws.emit('message', Buffer.from(typeof frame === 'string' ? frame : JSON.stringify(frame)), isBinary);
      return { ws, toTrpc, deliver, direct };
    }
    const call = (input: unknown, extra: Record<string, unknown> = {}) => ({
      id: 7,
      method: 'mutation',
      params: { path: 'sendToUser', input: { json: input }, ...extra },
    });
    const settle = () => new Promise((resolve) => setImmediate(resolve));

    it('serves a valid send and a subscription of an authenticated socket itself', async () => {
      const { ws, toTrpc, deliver } = await socket(ctx('alice'));
      deliver(call({ to: 'bob', text: 'hi' }));
      deliver({ id: 8, ...subscribe() });
      await settle();
      expect(toTrpc).toEqual([]);
      const frames = ws.sent.map((frame) => JSON.parse(frame) as RawReply);
      expect(frames.map((f) => [f.id, f.result?.type])).toEqual([
        [8, 'started'],
        [7, 'data'],
        [8, 'data'],
        [8, 'stopped'],
      ]);
    });

    it('holds frames while the context is created, then serves them in order', async () => {
      for (const outcome of ['created', 'failed'] as const) {
        const { ws, toTrpc, deliver, direct } = await socket(undefined);
        deliver('PING');
        let settleContext: (context: Context | null) => void = () => {};
        const creating = new Promise<Context>((resolve, reject) => {
          settleContext = (context) => (context === null ? reject(new Error('refused')) : resolve(context));
        });
        const tracked = direct.trackContext(ws as unknown as WebSocket, creating).catch(() => null);
        deliver(call({ to: 'bob', text: 'hi' }));
        deliver('PING');
        await settle();
        expect(toTrpc, outcome).toEqual(['PING']);
        expect(ws.sent, outcome).toEqual([]);
        settleContext(outcome === 'created' ? ctx('alice') : null);
        await tracked;
        await settle();
        if (outcome === 'created') {
          expect(toTrpc).toEqual(['PING', 'PING']);
          expect(ws.sent.map((frame) => (JSON.parse(frame) as RawReply).id)).toEqual([7]);
        } else {
          expect(toTrpc).toEqual(['PING', JSON.stringify(call({ to: 'bob', text: 'hi' })), 'PING']);
          expect(ws.sent).toEqual([]);
        }
      }
    });

    it('leaves everything else to tRPC, untouched', async () => {
      const frames: Array<[string, Context | undefined, unknown, boolean?]> = [
        ['a socket without a context yet', undefined, call({ to: 'bob', text: 'hi' })],
        ['a socket without a user', ctx(null), call({ to: 'bob', text: 'hi' })],
        ['input that fails validation', ctx('alice'), call({ to: 'bob', text: '' })],
        ['an unknown key', ctx('alice'), call({ to: 'bob', text: 'hi', more: 1 })],
        ['a batch', ctx('alice'), [call({ to: 'bob', text: 'hi' })]],
        ['a query', ctx('alice'), { ...call({ to: 'bob', text: 'hi' }), method: 'query' }],
        ['another procedure', ctx('alice'), { id: 7, method: 'mutation', params: { path: 'other', input: { json: {} } } }],
        ['a mutation with a lastEventId', ctx('alice'), call({ to: 'bob', text: 'hi' }, { lastEventId: '1' })],
        ['a subscription with a numeric lastEventId', ctx('alice'), { id: 8, ...subscribe({}, 1 as never) }],
        ['a subscription with a bad input', ctx('alice'), { id: 8, ...subscribe({ lastEventId: 'x' }) }],
        ['another subscription', ctx('alice'), { id: 8, method: 'subscription', params: { path: 'other', input: { json: {} } } }],
        ['a stop of a subscription not served here', ctx('alice'), { id: 8, method: 'subscription.stop' }],
        ['a null id', ctx('alice'), { ...call({ to: 'bob', text: 'hi' }), id: null }],
        ['an object id', ctx('alice'), { ...call({ to: 'bob', text: 'hi' }), id: {} }],
        ['JSON-RPC 1.0', ctx('alice'), { ...call({ to: 'bob', text: 'hi' }), jsonrpc: '1.0' }],
        ['malformed JSON mentioning "mutation"', ctx('alice'), '{"method":"mutation",'],
        ['a binary frame', ctx('alice'), call({ to: 'bob', text: 'hi' }), true],
        ['a PING', ctx('alice'), 'PING'],
      ];
      for (const [what, context, frame, isBinary] of frames) {
        const { ws, toTrpc, deliver } = await socket(context);
        deliver(frame, isBinary);
        await settle();
        expect(ws.sent, what).toEqual([]);
        expect(toTrpc, what).toEqual([typeof frame === 'string' ? frame : JSON.stringify(frame)]);
      }
    });
  });
});
