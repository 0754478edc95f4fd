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
import { startServer, type TestServer } from './helpers/server.js';
import { isClose, openRaw, type RawConnection, type RawReply } from './helpers/raw-ws.js';
import { comparable, until } from './helpers/frames.js';
import { metric } from './helpers/metrics.js';

/** Every frame of call `id` so far, in order, without its id. */
const framesOf = (conn: RawConnection, id: unknown) =>
  conn.frames.filter((f) => (f as RawReply | null)?.id === id).map((f) => ({ ...(f as RawReply), id: null }));

const send = (input: Record<string, unknown>) => ({
  method: 'mutation',
  params: { path: 'sendToUser', input: { json: input } },
});
const subscribe = (input: Record<string, unknown> = {}, lastEventId?: string) => ({
  method: 'subscription',
  params: { path: 'onMessage', input: { json: input }, ...(lastEventId === undefined ? {} : { lastEventId }) },
});
const stop = (id: unknown) => ({ id, method: 'subscription.stop' });

/**
 * The same calls against a server, step by step, waiting for each step's answers; returns
 * every frame each socket got, by call id, in order.
 */
async function script(t: TestServer) {
  await t.client('bob');
  const alice = await openRaw(t.url, { token: await t.token('alice') });
  const bob = await openRaw(t.url, { token: await t.token('bob') });
  const step = async (conn: RawConnection, frame: unknown, ...waits: Array<[unknown, number]>) => {
    conn.send(frame as object);
    await until(`answers to ${JSON.stringify(frame)}`, () => waits.every(([id, n]) => framesOf(conn, id).length >= n));
  };

  await step(bob, { id: 1, ...subscribe() }, [1, 1]);
  await step(alice, { id: 1, ...send({ to: 'bob', text: 'one', clientMsgId: 'c1' }) }, [1, 1]);
  await step(
    alice,
    [{ id: 2, ...send({ to: 'bob', text: 'two' }) }, { id: 3, method: 'query', params: { path: 'me', input: {} } }, { id: 4, ...send({ to: 'bob', text: ' ' }) }],
    [2, 1],
    [3, 1],
    [4, 1],
  );
  await step(alice, { id: 'x', jsonrpc: '2.0', ...send({ to: 'bob', text: 'three', clientMsgId: 'c3' }) }, ['x', 1]);
  await step(alice, { id: 5, ...send({ to: 'ghost', text: 'boo' }) }, [5, 1]);
  await step(alice, { id: 6, ...send({ to: 'bob', text: 'other', clientMsgId: 'c1' }) }, [6, 1]);
  await step(alice, { id: 7, method: 'mutation', params: { path: 'ack', input: { json: { upTo: 5 } } } }, [7, 1]);
  await step(bob, { id: 8, method: 'mutation', params: { path: 'ack', input: { json: { upTo: 2 } } } }, [8, 1]);
  await until('three messages live', () => framesOf(bob, 1).length === 4);
  await step(bob, [{ id: 2, ...subscribe({}, '1') }], [2, 3]);
  await step(bob, { id: 1, ...subscribe() }, [1, 5]);
  await step(bob, { id: 1, ...subscribe({ lastEventId: 'x' }) }, [1, 6]);
  await step(bob, { id: 1, method: 'subscription', params: { path: 'nope', input: {} } }, [1, 7]);
  await step(bob, { id: 9, ...subscribe({ lastEventId: 'x' }) }, [9, 1]);
  await step(bob, { id: 10, ...subscribe() }, [10, 1]);
  await step(bob, stop(1), [1, 8]);
  await step(bob, [stop(2)], [2, 4]);
  await step(bob, { id: 12, ...subscribe({}, '1000') }, [12, 1]);
  await step(bob, [{ id: 11, ...subscribe() }, stop(11)], [11, 1]);
  const anonymous = await openRaw(t.url, { token: undefined });
  await step(anonymous, { id: 1, ...send({ to: 'bob', text: 'hi' }) }, [1, 1]);
  await Promise.all([alice.close(), bob.close(), anonymous.close()]);
  return { alice: comparable(alice.frames), bob: comparable(bob.frames), anonymous: comparable(anonymous.frames) };
}

describe('per-message procedures beneath tRPC (transport/direct-calls.ts)', () => {
  it('answer every call with the very frames tRPC’s adapter sends, errors, batches and subscriptions included', async () => {
    const limits = { maxTextLength: 100, maxSubscriptionsPerConnection: 2 };
    await using direct = await startServer(limits);
    await using viaTrpc = await startServer({ ...limits, directCalls: false });
    const got = await script(direct);
    expect(got).toEqual(await script(viaTrpc));

    const kinds = (frames: Record<string, RawReply[]>, id: unknown) =>
      frames[String(id)]?.map((f) => f.result?.type ?? f.error?.json?.data?.code);
    expect(kinds(got.bob, 1)).toEqual(['started', 'data', 'data', 'data', 'BAD_REQUEST', 'BAD_REQUEST', 'BAD_REQUEST', 'stopped']);
    expect(got.bob['1']?.slice(4, 7).map((f) => f.error?.json?.message)).toEqual(Array(3).fill('Duplicate id 1'));
    expect(kinds(got.bob, 2)).toEqual(['started', 'data', 'data', 'stopped']);
    expect(kinds(got.bob, 9)).toEqual(['BAD_REQUEST']);
    // Refused before 'started': the client never sees the subscription begin.
    expect(kinds(got.bob, 10)).toEqual(['TOO_MANY_REQUESTS']);
    expect(kinds(got.bob, 12)).toEqual(['BAD_REQUEST']);
    expect(got.bob['12']?.[0]?.error?.json?.message).toBe(
      "lastEventId 1000 is past the end of your stream (3): the server's data was reset; resubscribe without lastEventId",
    );
    expect(kinds(got.bob, 11)).toEqual(['stopped']);
    const aliceKinds = [1, 2, 3, 4, 'x', 5, 6, 7].map((id) => kinds(got.alice, id));
    expect(aliceKinds).toEqual([['data'], ['data'], ['data'], ['BAD_REQUEST'], ['data'], ['NOT_FOUND'], ['CONFLICT'], ['data']]);
    expect(kinds(got.anonymous, 1)).toEqual(['UNAUTHORIZED']);

    // Served directly on one server, through tRPC on the other.
    const served = (t: TestServer, procedure: string) => metric(t.url, 'parley_direct_calls_total', { procedure });
    expect(await served(direct, 'sendToUser')).toBe(5);
    expect(await served(direct, 'ack')).toBe(2);
    expect(await served(direct, 'onMessage')).toBe(8);
    expect(await served(direct, 'subscription.stop')).toBe(3);
    expect(await served(viaTrpc, 'sendToUser')).toBe(0);
  });

  it('answers a rate-limited send as tRPC does: TOO_MANY_REQUESTS with retryAfterMs', async () => {
    const replies = [];
    for (const directCalls of [true, false]) {
      await using t = await startServer({ sendRateLimit: { perSecond: 0.1, burst: 1 }, directCalls });
      await t.client('bob');
      const alice = await openRaw(t.url, { token: await t.token('alice') });
      await alice.call('mutation', 'sendToUser', { to: 'bob', text: 'first' });
      const reply = await alice.call('mutation', 'sendToUser', { to: 'bob', text: 'second' });
      if (isClose(reply)) throw new Error('closed');
      expect(reply.error?.json?.data).toMatchObject({ code: 'TOO_MANY_REQUESTS', retryAfterMs: expect.any(Number) });
      expect(reply.error?.json?.message).toMatch(/^Too many messages: try again in \d+ s$/);
      replies.push(comparable([reply]));
      await alice.close();
    }
    expect(replies[0]).toEqual(replies[1]);
  });

  it('stores one client’s sends in the order sent, batched or not, also while its token is checked', async () => {
    await using t = await startServer();
    await t.client('bob');
    const alice = await openRaw(t.url, { token: await t.token('alice') });
    const burst = (from: number) => {
      const m = (i: number) => ({ id: i, ...send({ to: 'bob', text: `m${i}` }) });
      // One socket write each, all in this turn: they arrive together.
      alice.send([m(from), m(from + 1)]);
      alice.send(m(from + 2));
      alice.send([m(from + 3), { id: `me${from}`, method: 'query', params: { path: 'me', input: {} } }, m(from + 4)]);
      alice.send(m(from + 5));
    };
    burst(1); // right after connectionParams: held until the token is checked
    await until('six replies', () => [1, 2, 3, 4, 5, 6].every((i) => framesOf(alice, i).length === 1));
    burst(7);
    await until('twelve replies', () => [7, 8, 9, 10, 11, 12].every((i) => framesOf(alice, i).length === 1));
    for (let i = 1; i <= 12; i++) {
      expect(framesOf(alice, i)[0]?.result?.data?.json, `m${i}`).toMatchObject({ seq: i, text: `m${i}` });
    }
    await alice.close();
  });

  describe('routing', () => {
    const router = initTRPC.context<Context>().create({ transformer }).router({});
    /** What ran, in order: sends reaching the domain, and frames reaching tRPC. */
    const calls: string[] = [];
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
      send: (input) => {
        calls.push(`send ${input.text}`);
        return Promise.resolve({ ...message, ...input });
      },
      stream: () =>
        Promise.resolve(
          (async function* () {
            yield message;
          })(),
        ),
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
      calls.length = 0;
      ws.on('message', (data: RawData) => {
        toTrpc.push(String(data));
        calls.push(`tRPC ${String(data)}`);
      });
      const direct = createDirectCalls({ router, procedures, onError: () => {}, onServed: () => {} });
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
      // The subscription opens (asynchronously) before its 'started'.
      expect(frames.map((f) => [f.id, f.result?.type])).toEqual([
        [7, 'data'],
        [8, 'started'],
        [8, 'data'],
        [8, 'stopped'],
      ]);
    });

    it('serves the elements of a batch it can, and passes the others to tRPC one by one, in place', async () => {
      const { ws, deliver } = await socket(ctx('alice'));
      const other = { id: 9, method: 'query', params: { path: 'me', input: {} } };
      deliver([call({ to: 'bob', text: 'a' }), other, { id: 8, ...subscribe() }, { ...call({ to: 'bob', text: 'b' }), id: 6 }]);
      await settle();
      expect(calls).toEqual(['send a', `tRPC ${JSON.stringify(other)}`, 'send b']);
      expect(ws.sent.map((frame) => (JSON.parse(frame) as RawReply).id)).toEqual([7, 6, 8, 8, 8]);
    });

    it('stops a subscription from the same batch, and passes a stop it does not know to tRPC', async () => {
      const { ws, toTrpc, deliver } = await socket(ctx('alice'));
      deliver([{ id: 8, ...subscribe() }, { id: 8, method: 'subscription.stop' }, { id: 5, method: 'subscription.stop' }]);
      await settle();
      expect(toTrpc).toEqual([JSON.stringify({ id: 5, method: 'subscription.stop' })]);
      expect(ws.sent.map((frame) => (JSON.parse(frame) as RawReply).result?.type)).toEqual(['stopped']);
    });

    it('leaves a batch whose elements it cannot write again (nested too deep) to tRPC whole, serving none of it', async () => {
      const { ws, toTrpc, deliver } = await socket(ctx('alice'));
      const deep = `{"id":1,"method":"query","params":{"path":"me","input":{}},"pad":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
      const frame = `[${JSON.stringify(call({ to: 'bob', text: 'a' }))},${deep}]`;
      deliver(frame);
      await settle();
      expect(calls).toEqual([`tRPC ${frame}`]);
      expect(toTrpc).toEqual([frame]);
      expect(ws.sent).toEqual([]);
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
        const other = { id: 9, method: 'query', params: { path: 'me', input: {} } };
        deliver(call({ to: 'bob', text: 'hi' }));
        deliver('PING'); // keep-alive frames are answered at once, as tRPC does
        deliver(other);
        deliver({ ...call({ to: 'bob', text: 'again' }), id: 6 });
        await settle();
        expect(toTrpc, outcome).toEqual(['PING', 'PING']);
        expect(ws.sent, outcome).toEqual([]);
        settleContext(outcome === 'created' ? ctx('alice') : null);
        await tracked;
        await settle();
        if (outcome === 'created') {
          expect(calls).toEqual(['tRPC PING', 'tRPC PING', 'send hi', `tRPC ${JSON.stringify(other)}`, 'send again']);
          expect(ws.sent.map((frame) => (JSON.parse(frame) as RawReply).id)).toEqual([7, 6]);
        } else {
          const sends = [call({ to: 'bob', text: 'hi' }), other, { ...call({ to: 'bob', text: 'again' }), id: 6 }];
          expect(toTrpc).toEqual(['PING', 'PING', ...sends.map((frame) => JSON.stringify(frame))]);
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
        ['a batch with an element tRPC would refuse', ctx('alice'), [call({ to: 'bob', text: 'hi' }), { id: 8 }]],
        ['an empty batch', ctx('alice'), []],
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
