import { describe, expect, it } from 'vitest';
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

describe('the hot procedures, served directly (transport/ws/dispatch.ts)', () => {
  // Frame for frame against tRPC's own adapter: ws-conformance.test.ts.
  it('answer every call with tRPC’s frames, errors, batches and subscriptions included', async () => {
    await using direct = await startServer({ maxTextLength: 100, maxSubscriptionsPerConnection: 2 });
    const got = await script(direct);

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

    const served = (t: TestServer, procedure: string) => metric(t.url, 'parley_direct_calls_total', { procedure });
    expect(await served(direct, 'sendToUser')).toBe(5);
    expect(await served(direct, 'ack')).toBe(2);
    // Opened by the hot body: not the duplicates, the invalid cursor, or the one stopped before it started.
    expect(await served(direct, 'onMessage')).toBe(4);
    expect(await served(direct, 'subscription.stop')).toBe(3);
  });

  it('answers a rate-limited send as tRPC does: TOO_MANY_REQUESTS with retryAfterMs', async () => {
    await using t = await startServer({ sendRateLimit: { perSecond: 0.1, burst: 1 } });
    await t.client('bob');
    const alice = await openRaw(t.url, { token: await t.token('alice') });
    await alice.call('mutation', 'sendToUser', { to: 'bob', text: 'first' });
    const reply = await alice.call('mutation', 'sendToUser', { to: 'bob', text: 'second' });
    if (isClose(reply)) throw new Error('closed');
    expect(reply.error?.json?.data).toMatchObject({ code: 'TOO_MANY_REQUESTS', retryAfterMs: expect.any(Number), path: 'sendToUser' });
    expect(reply.error?.json?.message).toMatch(/^Too many messages: try again in \d+ s$/);
    await alice.close();
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
});
