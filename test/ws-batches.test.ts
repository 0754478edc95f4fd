/**
 * Issue 12: batches over the WebSocket. A frame of more calls than the handler's batch
 * limit (100) is refused as tRPC refuses a batch over its `maxBatchSize`, and each call of
 * a frame gets its place in the frame as `batchIndex`, as tRPC passes it. The same frames
 * go to Parley's handler (server/transport/ws/) and to tRPC's `applyWSSHandler` serving
 * one small router whose procedures answer with the `batchIndex` they were given; then to
 * a Parley server, to see that a refused batch of sends stores nothing.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTRPC } from '@trpc/server';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import { WebSocketServer } from 'ws';
import type { AccountService } from '../server/auth/account-service.js';
import { defaultConfig } from '../server/index.js';
import { InFlight } from '../server/lifecycle/in-flight.js';
import { createLogger } from '../server/log.js';
import { createMetrics, routerMetrics } from '../server/observability/metrics.js';
import { createMessageProcedures } from '../server/router/message-procedures.js';
import type { MessagesPort } from '../server/router/ports.js';
import { transformer } from '../server/router/transformer.js';
import type { Context } from '../server/router/trpc.js';
import { createClientAddress } from '../server/transport/client-address.js';
import { createParleyWsServer } from '../server/transport/ws/server.js';
import { startServer } from './helpers/server.js';
import { openRaw, within, type RawConnection, type RawOptions, type RawReply } from './helpers/raw-ws.js';

/** Elements of any kind a frame may hold (`maxCallsPerFrame` in server/transport/ws/server.ts). */
const maxBatchSize = 100;

/** The router both handlers serve: each procedure answers with the `batchIndex` it got. */
function indexRouter(ran: number[]) {
  // No stack traces in error shapes, as Parley's router (they differ between handlers).
  const t = initTRPC.context<Context>().create({ transformer, isDev: false });
  // As a middleware sees it, handed on in the context.
  const withIndexInCtx = t.procedure.use(({ batchIndex, next }) => next({ ctx: { batchIndex } }));
  return t.router({
    index: t.procedure.query(({ batchIndex }) => batchIndex),
    ctxIndex: withIndexInCtx.query(({ ctx }) => ctx.batchIndex),
    record: t.procedure.mutation(({ batchIndex }) => {
      ran.push(batchIndex ?? -1);
      return batchIndex;
    }),
    stream: t.procedure.subscription(async function* ({ batchIndex }) {
      yield batchIndex;
    }),
  });
}

interface Handler {
  url: string;
  /** Every `record` call that ran on it, by its batchIndex. */
  ran: number[];
}

/** An HTTP server on port 0, its upgrades handled by what `attach` adds. */
async function listen(attach: (server: Server) => void): Promise<{ server: Server; url: string }> {
  const server = createServer();
  attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const closers: Array<() => Promise<void>> = [];
const closeHttp = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** tRPC's own adapter, with tRPC's batch limit set to Parley's. */
async function startTrpc(): Promise<Handler> {
  const ran: number[] = [];
  const wss = new WebSocketServer({ noServer: true });
  applyWSSHandler({
    wss,
    router: indexRouter(ran),
    createContext: (): Context => ({ userId: null, authError: null, clientIp: null, connection: null }),
    maxBatchSize,
  });
  const { server, url } = await listen((s) =>
    s.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))),
  );
  closers.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    await closeHttp(server);
  });
  return { url, ran };
}

/** Parley's handler as the server wires it (server.ts), serving the same router. */
async function startParley(): Promise<Handler> {
  const ran: number[] = [];
  const config = defaultConfig();
  const metrics = createMetrics();
  // The router has none of the hot procedures, so their bodies (and the messages they use) never run.
  const unusedMessages = {} as MessagesPort;
  const procedures = createMessageProcedures({
    messages: unusedMessages,
    maxTextLength: config.maxTextLength,
    maxSubscriptionsPerConnection: config.maxSubscriptionsPerConnection,
    sendLimiter: null,
    inFlight: new InFlight(),
    metrics: routerMetrics(metrics),
  });
  // No socket here presents a token, so nothing asks the accounts.
  const unusedAccounts = {} as AccountService;
  const ws = createParleyWsServer({
    router: indexRouter(ran),
    procedures,
    accounts: unusedAccounts,
    config,
    clientAddress: createClientAddress([]),
    metrics,
    log: createLogger('silent'),
  });
  const { server, url } = await listen((s) => s.on('upgrade', ws.handleUpgrade));
  closers.push(async () => {
    await ws.close();
    await closeHttp(server);
  });
  return { url, ran };
}

let trpc: Handler;
let parley: Handler;
beforeAll(async () => {
  [trpc, parley] = await Promise.all([startTrpc(), startParley()]);
});
afterAll(async () => {
  await Promise.all(closers.map((close) => close()));
});

const call = (id: number | string, method: 'query' | 'mutation' | 'subscription', path: string) => ({
  id,
  method,
  params: { path, input: { json: undefined } },
});
const stop = (id: number | string) => ({ id, method: 'subscription.stop' });

/** Resolves once `socket` has the last frame of subscription `id`: 'stopped', or an error. */
async function subscriptionEnded(socket: RawConnection, id: unknown): Promise<void> {
  const ended = () =>
    socket.frames.some((f) => (f as RawReply).id === id && ((f as RawReply).error !== undefined || (f as RawReply).result?.type === 'stopped'));
  await within(
    (async () => {
      while (!ended()) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    5000,
    `the end of subscription ${String(id)}`,
  );
}

/**
 * Sends `frames` on a new socket, one at a time, each followed by a single call whose
 * reply comes after those of the calls before it (and once its subscriptions ended);
 * returns what the socket got for the frames, by id, without the marker calls.
 */
async function exchange(handler: Handler, frames: unknown[], options: RawOptions = {}): Promise<Record<string, unknown[]>> {
  const socket: RawConnection = await openRaw(handler.url, options);
  try {
    for (const [i, frame] of frames.entries()) {
      const marker = `marker-${i}`;
      socket.send(frame as object);
      socket.send(call(marker, 'query', 'index'));
      await within(socket.reply(marker), 5000, `the reply to ${marker}`);
      const elements: unknown[] = Array.isArray(frame) ? frame : [frame];
      for (const element of elements) {
        const { id, method } = (element ?? {}) as { id?: unknown; method?: unknown };
        if (method === 'subscription') await subscriptionEnded(socket, id);
      }
    }
  } finally {
    await socket.close();
  }
  const byId: Record<string, unknown[]> = {};
  for (const frame of socket.frames) {
    const id = String((frame as RawReply).id);
    if (!id.startsWith('marker-')) (byId[id] ??= []).push(frame);
  }
  return byId;
}

/** What a reply frame says: its data, its result type, or its error's code and message. */
function summary(frames: unknown[] | undefined): unknown[] | undefined {
  return frames?.map((frame) => {
    const { result, error } = frame as RawReply;
    if (error !== undefined) return `${error.json?.data?.code}: ${error.json?.message}`;
    return result?.type === 'data' ? result.data?.json : result?.type;
  });
}

describe('batches over the WebSocket, against tRPC’s own adapter', () => {
  it(`refuses a frame of more than ${maxBatchSize} elements whole, as tRPC does: each call with an id gets BAD_REQUEST, none runs`, async () => {
    const refused = 'BAD_REQUEST: Batch call exceeds maximum size';
    const records = (count: number, firstId: number) => Array.from({ length: count }, (_, i) => call(firstId + i, 'mutation', 'record'));
    // 101 elements: mutations, a query, a subscription, a stop and elements that are no call at all.
    const mixed = [...records(95, 1), call('q', 'query', 'index'), call('s', 'subscription', 'stream'), stop('s'), null, 'x', { method: 'query' }];
    const stopsOnly = Array.from({ length: maxBatchSize + 1 }, (_, i) => stop(i));
    const atLimit = records(maxBatchSize, 1000);

    for (const handler of [trpc, parley]) handler.ran.length = 0;
    const [got, fromTrpc] = await Promise.all([
      exchange(parley, [mixed, stopsOnly, atLimit]),
      exchange(trpc, [mixed, stopsOnly, atLimit]),
    ]);
    expect(got).toEqual(fromTrpc);

    expect(mixed).toHaveLength(maxBatchSize + 1);
    for (let id = 1; id <= 95; id++) expect(summary(got[String(id)])).toEqual([refused]);
    expect(summary(got['q'])).toEqual([refused]);
    expect(summary(got['s'])).toEqual([refused]);
    // A frame with no call to answer gets the error once, with a null id.
    expect(summary(got['null'])).toEqual([refused]);
    // At the limit every call runs, each with its index.
    for (let i = 0; i < maxBatchSize; i++) expect(summary(got[String(1000 + i)])).toEqual([i]);
    const indices = Array.from({ length: maxBatchSize }, (_, i) => i);
    expect([...parley.ran].sort((a, b) => a - b)).toEqual(indices);
    expect([...trpc.ran].sort((a, b) => a - b)).toEqual(indices);
  });

  it('gives each call its place in its frame as batchIndex (resolver and middleware alike), as tRPC does', async () => {
    const frames = [
      // A stop has a place too.
      [call(1, 'query', 'index'), call(2, 'mutation', 'record'), stop(99), call(3, 'query', 'ctxIndex'), call(4, 'subscription', 'stream'), call(5, 'query', 'index')],
      // Not a batch: 0.
      call(6, 'query', 'ctxIndex'),
      // Each frame counts from 0.
      [call(7, 'query', 'ctxIndex'), call(8, 'query', 'index')],
    ];
    const expected = { 1: [0], 2: [1], 3: [3], 4: ['started', 4, 'stopped'], 5: [5], 6: [0], 7: [0], 8: [1] };

    const [got, fromTrpc] = await Promise.all([exchange(parley, frames), exchange(trpc, frames)]);
    expect(got).toEqual(fromTrpc);
    expect(Object.fromEntries(Object.entries(got).map(([id, replies]) => [id, summary(replies)]))).toEqual(expected);

    // Calls that come with the connectionParams, while the context is being made, keep their places.
    const withParams = { connectionParams: true, token: undefined };
    const [held, heldByTrpc] = await Promise.all([exchange(parley, frames, withParams), exchange(trpc, frames, withParams)]);
    expect(held).toEqual(heldByTrpc);
    expect(held).toEqual(got);
  });
});

describe('a Parley server', () => {
  it(`stores none of a refused frame of ${maxBatchSize + 1} sends, and every one of a frame of ${maxBatchSize}`, async () => {
    await using t = await startServer({ sendRateLimit: null });
    await (await t.http('bob')).me.query(); // known, so he can be sent to
    const alice = await openRaw(t.url, { token: await t.token('alice') });
    const sends = (count: number, firstId: number) =>
      Array.from({ length: count }, (_, i) => ({
        id: firstId + i,
        method: 'mutation',
        params: { path: 'sendToUser', input: { json: { to: 'bob', text: `m${firstId + i}` } } },
      }));
    const seqOf = async (id: number) => {
      const reply = (await within(alice.reply(id), 5000, `the reply to ${id}`)) as RawReply;
      return reply.error?.json?.message ?? (reply.result?.data?.json as { seq?: number } | undefined)?.seq;
    };

    const tooMany = sends(maxBatchSize + 1, 1);
    alice.send(tooMany);
    const refusals = await Promise.all(tooMany.map((s) => seqOf(s.id)));
    expect(refusals).toEqual(tooMany.map(() => 'Batch call exceeds maximum size'));
    // Bob's stream is still empty: the next send is his first message.
    alice.send(sends(1, 500));
    expect(await seqOf(500)).toBe(1);

    const atLimit = sends(maxBatchSize, 1000);
    alice.send(atLimit);
    const seqs = await Promise.all(atLimit.map((s) => seqOf(s.id)));
    expect(seqs).toEqual(atLimit.map((_, i) => i + 2));
    await alice.close();
  });
});
