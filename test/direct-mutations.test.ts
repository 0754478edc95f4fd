import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { initTRPC } from '@trpc/server';
import type { RawData, WebSocket } from 'ws';
import { z } from 'zod';
import { transformer } from '../server/router/transformer.js';
import { createDirectMutations } from '../server/transport/direct-mutations.js';
import type { Context } from '../server/router/trpc.js';
import { startServer } from './helpers/server.js';
import { isClose, openRaw, type RawConnection, type RawReply } from './helpers/raw-ws.js';

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

const send = (input: Record<string, unknown>) => ({
  method: 'mutation',
  params: { path: 'sendToUser', input: { json: input } },
});

describe('per-message mutations beneath tRPC (transport/direct-mutations.ts)', () => {
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

  describe('routing', () => {
    const router = initTRPC.context<Context>().create({ transformer }).router({});
    const echo = {
      input: z.object({ text: z.string().min(1) }).strict(),
      run: (userId: string, input: { text: string }) => Promise.resolve({ userId, text: input.text }),
    };
    const ctx = (userId: string | null): Context => ({ userId, authError: null, clientIp: null, connection: null });

    /** A socket whose 'message' listener stands for tRPC's handler and records what reaches it. */
    function socket(context: Context | undefined) {
      const ws = Object.assign(new EventEmitter(), { OPEN: 1, readyState: 1, sent: [] as string[] });
      Object.assign(ws, { send: (frame: string) => ws.sent.push(frame) });
      const toTrpc: string[] = [];
      ws.on('message', (data: RawData) => toTrpc.push(String(data)));
      createDirectMutations({ router, mutations: { echo }, onError: () => {} }).attach(
        ws as unknown as WebSocket,
        () => context,
      );
      const deliver = (frame: unknown, isBinary = false) =>
        ws.emit('message', Buffer.from(typeof frame === 'string' ? frame : JSON.stringify(frame)), isBinary);
      return { ws, toTrpc, deliver };
    }
    const call = (input: unknown, extra: Record<string, unknown> = {}) => ({
      id: 7,
      method: 'mutation',
      params: { path: 'echo', input: { json: input }, ...extra },
    });

    it('takes a valid mutation of an authenticated socket and answers it itself', async () => {
      const { ws, toTrpc, deliver } = socket(ctx('alice'));
      deliver(call({ text: 'hi' }));
      await new Promise((resolve) => setImmediate(resolve));
      expect(toTrpc).toEqual([]);
      expect(ws.sent.map((frame) => JSON.parse(frame) as unknown)).toEqual([
        { id: 7, result: { type: 'data', data: { json: { userId: 'alice', text: 'hi' } } } },
      ]);
    });

    it('leaves everything else to tRPC, untouched', async () => {
      const frames: Array<[string, Context | undefined, unknown, boolean?]> = [
        ['a socket without a context yet', undefined, call({ text: 'hi' })],
        ['a socket without a user', ctx(null), call({ text: 'hi' })],
        ['input that fails validation', ctx('alice'), call({ text: '' })],
        ['an unknown key', ctx('alice'), call({ text: 'hi', more: 1 })],
        ['a batch', ctx('alice'), [call({ text: 'hi' })]],
        ['a query', ctx('alice'), { ...call({ text: 'hi' }), method: 'query' }],
        ['another procedure', ctx('alice'), { id: 7, method: 'mutation', params: { path: 'other', input: { json: {} } } }],
        ['a lastEventId', ctx('alice'), call({ text: 'hi' }, { lastEventId: '1' })],
        ['a null id', ctx('alice'), { ...call({ text: 'hi' }), id: null }],
        ['an object id', ctx('alice'), { ...call({ text: 'hi' }), id: {} }],
        ['JSON-RPC 1.0', ctx('alice'), { ...call({ text: 'hi' }), jsonrpc: '1.0' }],
        ['malformed JSON mentioning "mutation"', ctx('alice'), '{"method":"mutation",'],
        ['a binary frame', ctx('alice'), call({ text: 'hi' }), true],
        ['a PING', ctx('alice'), 'PING'],
      ];
      for (const [what, context, frame, isBinary] of frames) {
        const { ws, toTrpc, deliver } = socket(context);
        deliver(frame, isBinary);
        await new Promise((resolve) => setImmediate(resolve));
        expect(ws.sent, what).toEqual([]);
        expect(toTrpc, what).toEqual([typeof frame === 'string' ? frame : JSON.stringify(frame)]);
      }
    });
  });
});
