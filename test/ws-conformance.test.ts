/**
 * Conformance of Parley's WebSocket handler with tRPC's own (issue 12): every row sends
 * the same frames to a Parley server (through its socket only, so the handler behind it
 * can change) and to `applyWSSHandler` serving the same router (helpers/trpc-reference.ts),
 * and compares what each socket got, call id by call id. Each row also states what tRPC
 * answers, so a row cannot pass with both servers wrong alike. Where Parley deliberately
 * answers otherwise (its limits, its close codes), the row says why and what Parley answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken, startServer, type TestServer } from './helpers/server.js';
import { startTrpcReference, type TrpcReference } from './helpers/trpc-reference.js';
import { openRaw, type CloseEvent, type RawConnection, type RawOptions, type RawReply } from './helpers/raw-ws.js';
import { comparable, until } from './helpers/frames.js';

type Frame = string | Buffer | object;

/** The users of one row, named for that row alone (each stream's seqs start at 1 on both servers). */
interface Users {
  alice: string;
  bob: string;
  /** Never known to either server. */
  ghost: string;
  /** Valid tokens of alice and bob. */
  token: { alice: string; bob: string };
}

interface SocketSpec {
  /** Sends this user's token as connectionParams when open. */
  user?: 'alice' | 'bob';
  /** With `user`: the token's lifetime (negative: already expired). */
  ttlSeconds?: number;
  /** Sends connectionParams with this as the token (undefined: none) when open. */
  token?: unknown;
  /** Without `user` and `token`: `?connectionParams=1` on the URL, but nothing sent. */
  connectionParams?: boolean;
}

interface Step {
  /** The socket that sends (default `a`). */
  on?: string;
  /** Sent one after the other (an array in it is one batch frame). */
  frames?: Frame[];
  /** Sends `frames` in one socket write: the server reads them together. */
  together?: boolean;
  /**
   * What to wait for before the next step: per socket, how many frames each call id
   * (`comparable`'s keys: `null` for id null, `undefined` for PONG) has. A socket that
   * closes ends its wait.
   */
  until?: Partial<Record<string, Partial<Record<string, number>>>>;
  /** Sockets whose close to wait for. */
  closed?: string[];
  /** A step of Parley's only (waiting for a close only Parley sends). */
  only?: 'parley';
}

/**
 * What a server answered, per socket: each call id's frames, as `data` (with the event
 * id of a subscription's), `started`, `stopped`, `CODE: message` or a text frame as is;
 * and `close: ['code reason']` when the socket was closed.
 */
type Outcome = Record<string, Partial<Record<string, string[]>>>;

interface Row {
  name: string;
  /** Default: `a`, authenticated as alice. */
  sockets?: Record<string, SocketSpec>;
  steps: (u: Users) => Step[];
  /** What tRPC answers: Parley must answer the very same frames. */
  trpc: Outcome;
  /** Parley answers otherwise, on purpose: why, and what it answers instead. */
  parleyDiffers?: { why: string; parley: Outcome };
  /** Parley with a short auth deadline serves this row. */
  shortAuthDeadline?: boolean;
}

/**
 * tRPC's `maxBatchSize` for the reference: what Parley's handler refuses as tRPC does (any
 * kind of element), besides PARLEY_MAX_BATCH, which counts the queries of a frame.
 */
const maxBatchSize = 100;
/** Parley's auth deadline on the server of the rows about it. */
const shortAuthTimeoutMs = 300;
/** PARLEY_MAX_PAYLOAD (its default), given so that the row about it sends one byte more. */
const maxPayloadBytes = 64 * 1024;

const query = (id: unknown, path: string, input?: unknown) => ({ id, method: 'query', params: { path, input: { json: input } } });
const mutation = (id: unknown, path: string, input: unknown) => ({ id, method: 'mutation', params: { path, input: { json: input } } });
const send = (id: unknown, to: string, text: string, more: Record<string, unknown> = {}) =>
  mutation(id, 'sendToUser', { to, text, ...more });
const subscribe = (id: unknown, input: unknown = {}, params: { lastEventId?: unknown; path?: string } = {}) => ({
  id,
  method: 'subscription',
  params: {
    path: params.path ?? 'onMessage',
    input: { json: input },
    ...('lastEventId' in params ? { lastEventId: params.lastEventId } : {}),
  },
});
const stop = (id: unknown) => ({ id, method: 'subscription.stop' });
const connectionParams = (token: unknown) => ({ method: 'connectionParams', data: { token } });
const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
/** `count` call ids from `from`, each with `value`: its count in an `until`, its frames in an outcome. */
const each = <T>(from: number, count: number, value: T) => Object.fromEntries(range(from, count).map((id) => [id, value]));

const signInFirst = 'UNAUTHORIZED: Sign in first: send a token (connectionParams.token, or Authorization: Bearer)';
const binaryRefused = 'jsonEncoder received binary data. JSON uses text frames. Use a binary encoder for binary data.';
const pingFence: Step = { frames: ['PING'], until: { a: { undefined: 1 } } };

const rows: Row[] = [
  // Queries
  {
    name: 'a query',
    steps: () => [{ frames: [query(1, 'me')], until: { a: { 1: 1 } } }],
    trpc: { a: { 1: ['data'] } },
  },
  {
    name: 'queries with input and without, after a send',
    steps: (u) => [
      { frames: [send(1, u.bob, 'hi')], until: { a: { 1: 1 } } },
      { frames: [query(2, 'history', { with: u.bob }), query(3, 'conversations')], until: { a: { 2: 1, 3: 1 } } },
    ],
    trpc: { a: { 1: ['data'], 2: ['data'], 3: ['data'] } },
  },
  {
    name: 'a query with a string id and jsonrpc 2.0',
    steps: () => [{ frames: [{ ...query('q', 'me'), jsonrpc: '2.0' }], until: { a: { q: 1 } } }],
    trpc: { a: { q: ['data'] } },
  },
  {
    name: 'a query of an unknown path',
    steps: () => [{ frames: [query(1, 'nope')], until: { a: { 1: 1 } } }],
    trpc: { a: { 1: ['NOT_FOUND: No "query"-procedure on path "nope"'] } },
  },
  {
    name: 'a query of a mutation',
    steps: (u) => [{ frames: [query(1, 'sendToUser', { to: u.bob, text: 'hi' })], until: { a: { 1: 1 } } }],
    trpc: { a: { 1: ['NOT_FOUND: No "query"-procedure on path "sendToUser"'] } },
  },
  {
    name: 'a query whose input fails validation',
    steps: (u) => [{ frames: [query(1, 'history', { with: u.bob, limit: 0 })], until: { a: { 1: 1 } } }],
    trpc: { a: { 1: ['BAD_REQUEST: limit: Too small: expected number to be >=1'] } },
  },
  {
    name: 'a query of a socket without a token',
    sockets: { a: { token: undefined } },
    steps: () => [{ frames: [query(1, 'me')], until: { a: { 1: 1 } } }],
    trpc: { a: { 1: [signInFirst] } },
  },

  // Mutations
  {
    name: 'a send and an ack',
    steps: (u) => [
      { frames: [send(1, u.bob, 'hi')], until: { a: { 1: 1 } } },
      { frames: [mutation(2, 'ack', { upTo: 0 })], until: { a: { 2: 1 } } },
    ],
    trpc: { a: { 1: ['data'], 2: ['data'] } },
  },
  {
    name: 'a send repeated with its clientMsgId: the same message',
    steps: (u) => [
      { frames: [send(1, u.bob, 'hi', { clientMsgId: 'c1' })], until: { a: { 1: 1 } } },
      { frames: [send(2, u.bob, 'hi', { clientMsgId: 'c1' })], until: { a: { 2: 1 } } },
    ],
    trpc: { a: { 1: ['data'], 2: ['data'] } },
  },
  {
    name: 'a clientMsgId reused for another text',
    steps: (u) => [
      { frames: [send(1, u.bob, 'hi', { clientMsgId: 'c1' })], until: { a: { 1: 1 } } },
      { frames: [send(2, u.bob, 'other', { clientMsgId: 'c1' })], until: { a: { 2: 1 } } },
    ],
    trpc: { a: { 1: ['data'], 2: ['CONFLICT: clientMsgId "c1" was already used for a different message: use a new id for each message'] } },
  },
  {
    name: 'a send to an unknown user',
    steps: (u) => [{ frames: [send(1, u.ghost, 'boo')], until: { a: { 1: 1 } } }],
    trpc: { a: { 1: ['NOT_FOUND: No user "ghost" is known to this server: they must register or sign in once first'] } },
  },
  {
    name: 'sends whose input fails validation (empty text, unknown key, a lastEventId)',
    steps: (u) => [
      {
        frames: [
          send(1, u.bob, ' '),
          send(2, u.bob, 'hi', { more: 1 }),
          { ...send(3, u.bob, 'hi'), params: { ...send(3, u.bob, 'hi').params, lastEventId: '1' } },
        ],
        until: { a: { 1: 1, 2: 1, 3: 1 } },
      },
    ],
    trpc: {
      a: {
        1: ['BAD_REQUEST: text: must not be empty (it has only spaces or invisible characters)'],
        2: ['BAD_REQUEST: Unrecognized key: "more"'],
        // tRPC adds a lastEventId to the input of any call.
        3: ['BAD_REQUEST: Unrecognized key: "lastEventId"'],
      },
    },
  },
  {
    name: 'a send of a socket without a token',
    sockets: { a: { token: undefined } },
    steps: (u) => [{ frames: [send(1, u.bob, 'hi')], until: { a: { 1: 1 } } }],
    trpc: { a: { 1: [signInFirst] } },
  },
  {
    name: 'public mutations refused: a taken user id, a wrong password, bad input',
    sockets: { a: { token: undefined } },
    steps: (u) => [
      {
        frames: [
          mutation(1, 'auth.register', { userId: u.bob, password: 'long enough' }),
          mutation(2, 'auth.login', { userId: u.bob, password: 'long enough' }),
          mutation(3, 'auth.register', { userId: u.bob, password: 'short' }),
        ],
        until: { a: { 1: 1, 2: 1, 3: 1 } },
      },
    ],
    trpc: {
      a: {
        1: ['CONFLICT: The user id "bob" is taken: choose another'],
        2: ['UNAUTHORIZED: Wrong user id or password'],
        3: ['BAD_REQUEST: password: must be at least 8 characters'],
      },
    },
  },

  {
    name: 'calls with ids 0, "" and 1.5, and with jsonrpc 2.0',
    steps: (u) => [
      {
        frames: [
          send(0, u.bob, 'a'),
          { ...send('', u.bob, 'b'), jsonrpc: '2.0' },
          { ...subscribe(1.5), jsonrpc: '2.0' },
          { ...send(2, u.ghost, 'c'), jsonrpc: '2.0' },
          { ...subscribe(3, {}, { lastEventId: '1000' }), jsonrpc: '2.0' },
        ],
        until: { a: { 0: 1, '': 1, 1.5: 1, 2: 1, 3: 1 } },
      },
      { frames: [{ ...stop(1.5), jsonrpc: '2.0' }], until: { a: { 1.5: 2 } } },
    ],
    trpc: {
      a: {
        0: ['data'],
        '': ['data'],
        1.5: ['started', 'stopped'],
        2: ['NOT_FOUND: No user "ghost" is known to this server: they must register or sign in once first'],
        3: ["BAD_REQUEST: lastEventId 1000 is past the end of your stream (0): the server's data was reset; resubscribe without lastEventId"],
      },
    },
  },
  {
    name: 'a send whose method and keys escape plain letters',
    steps: (u) => [
      {
        frames: [`{"id":1,"method":"\\u006dutation","params":{"path":"sendToUser","input":{"json":{"\\u0074o":"${u.bob}","text":"hi"}}}}`],
        until: { a: { 1: 1 } },
      },
    ],
    trpc: { a: { 1: ['data'] } },
  },
  {
    name: 'calls whose input is not superjson-wrapped, or null where a key is optional',
    steps: (u) => [
      {
        frames: [
          { id: 1, method: 'mutation', params: { path: 'sendToUser', input: { to: u.bob, text: 'hi' } } },
          send(2, u.bob, 'hi', { clientMsgId: null }),
          { id: 3, method: 'query', params: { path: 'me' } },
        ],
        until: { a: { 1: 1, 2: 1, null: 1 } },
      },
    ],
    trpc: {
      a: {
        1: ['BAD_REQUEST: Invalid input: expected object, received undefined'],
        2: ['BAD_REQUEST: clientMsgId: Invalid input: expected string, received null'],
        // No input at all: superjson cannot read it, and tRPC answers without the call's id.
        null: ['PARSE_ERROR: The request could not be read (error …): send each input as superjson writes it, { "json": … }'],
      },
    },
  },
  {
    name: 'more sends than the send rate limit lets through (a limit of the router, so tRPC applies it too)',
    steps: (u) => [{ frames: [range(1, 51).map((id) => send(id, u.bob, `m${id}`))], until: { a: each(1, 51, 1) } }],
    trpc: { a: { ...each(1, 50, ['data']), 51: ['TOO_MANY_REQUESTS: Too many messages: try again in … ms'] } },
  },
  {
    name: 'an ack past the head of the stream',
    steps: () => [{ frames: [mutation(1, 'ack', { upTo: 1000 })], until: { a: { 1: 1 } } }],
    trpc: { a: { 1: ['data'] } },
  },

  // Subscriptions
  {
    name: 'a subscription without lastEventId: live messages, then stopped',
    sockets: { a: { user: 'alice' }, b: { user: 'bob' } },
    steps: (u) => [
      { on: 'b', frames: [subscribe(1)], until: { b: { 1: 1 } } },
      { frames: [send(1, u.bob, 'one'), send(2, u.bob, 'two')], until: { a: { 1: 1, 2: 1 }, b: { 1: 3 } } },
      { on: 'b', frames: [stop(1)], until: { b: { 1: 4 } } },
    ],
    trpc: { a: { 1: ['data'], 2: ['data'] }, b: { 1: ['started', 'data 1', 'data 2', 'stopped'] } },
  },
  {
    name: 'a subscription without lastEventId after an ack: replay from the acknowledged seq',
    sockets: { a: { user: 'alice' }, b: { user: 'bob' } },
    steps: (u) => [
      { frames: [send(1, u.bob, 'one'), send(2, u.bob, 'two')], until: { a: { 1: 1, 2: 1 } } },
      { on: 'b', frames: [mutation(1, 'ack', { upTo: 1 })], until: { b: { 1: 1 } } },
      { on: 'b', frames: [subscribe(2)], until: { b: { 2: 2 } } },
      { on: 'b', frames: [stop(2)], until: { b: { 2: 3 } } },
    ],
    trpc: { a: { 1: ['data'], 2: ['data'] }, b: { 1: ['data'], 2: ['started', 'data 2', 'stopped'] } },
  },
  {
    name: 'a subscription with lastEventId in its params (a reconnect) and in its input',
    sockets: { a: { user: 'alice' }, b: { user: 'bob' } },
    steps: (u) => [
      { frames: [send(1, u.bob, 'one'), send(2, u.bob, 'two'), send(3, u.bob, 'three')], until: { a: { 1: 1, 2: 1, 3: 1 } } },
      {
        on: 'b',
        frames: [subscribe(1, {}, { lastEventId: '1' }), subscribe(2, { lastEventId: '2' }), subscribe(3, undefined, { lastEventId: '0' })],
        until: { b: { 1: 3, 2: 2, 3: 4 } },
      },
      { on: 'b', frames: [[stop(1), stop(2), stop(3)]], until: { b: { 1: 4, 2: 3, 3: 5 } } },
    ],
    trpc: {
      a: { 1: ['data'], 2: ['data'], 3: ['data'] },
      b: {
        1: ['started', 'data 2', 'data 3', 'stopped'],
        2: ['started', 'data 3', 'stopped'],
        3: ['started', 'data 1', 'data 2', 'data 3', 'stopped'],
      },
    },
  },
  {
    name: 'a subscription whose lastEventId is past the head (thrown by the procedure)',
    steps: () => [{ frames: [subscribe(1, {}, { lastEventId: '1000' })], until: { a: { 1: 1 } } }],
    trpc: { a: { 1: ["BAD_REQUEST: lastEventId 1000 is past the end of your stream (0): the server's data was reset; resubscribe without lastEventId"] } },
  },
  {
    name: 'subscriptions whose lastEventId is not a decimal string, or not a string',
    steps: () => [
      { frames: [subscribe(1, { lastEventId: 'x' }), subscribe(2, {}, { lastEventId: 1 })], until: { a: { 1: 1, null: 1 } } },
    ],
    trpc: { a: { 1: ['BAD_REQUEST: lastEventId: must be a decimal number'], null: ['PARSE_ERROR: Invalid string'] } },
  },
  {
    name: 'a lastEventId in the params of a subscription whose input is null, or not an object',
    sockets: { a: { user: 'alice' }, b: { user: 'bob' } },
    steps: (u) => [
      { frames: [send(1, u.bob, 'one')], until: { a: { 1: 1 } } },
      {
        on: 'b',
        frames: [subscribe(1, null, { lastEventId: '0' }), subscribe(2, 'x', { lastEventId: '0' }), subscribe(3, [], { lastEventId: '0' })],
        until: { b: { 1: 2, 2: 1, 3: 1 } },
      },
      { on: 'b', frames: [stop(1)], until: { b: { 1: 3 } } },
    ],
    trpc: {
      a: { 1: ['data'] },
      b: {
        1: ['started', 'data 1', 'stopped'],
        2: ['BAD_REQUEST: Invalid input: expected object, received string'],
        3: ['BAD_REQUEST: Invalid input: expected object, received array'],
      },
    },
  },
  {
    name: 'a subscription and a send to oneself in one frame',
    steps: (u) => [
      { frames: [[subscribe(1), send(2, u.alice, 'me')]], until: { a: { 1: 2, 2: 1 } } },
      { frames: [stop(1)], until: { a: { 1: 3 } } },
    ],
    trpc: { a: { 1: ['started', 'data 1', 'stopped'], 2: ['data'] } },
  },
  {
    name: 'a call with the id of a running subscription',
    steps: () => [
      { frames: [subscribe(1)], until: { a: { 1: 1 } } },
      { frames: [query(1, 'me')], until: { a: { 1: 2 } } },
      { frames: [stop(1)], until: { a: { 1: 3 } } },
    ],
    trpc: { a: { 1: ['started', 'data', 'stopped'] } },
  },
  {
    name: 'a subscription of an unknown path, and of a query',
    steps: () => [{ frames: [subscribe(1, {}, { path: 'nope' }), subscribe(2, undefined, { path: 'me' })], until: { a: { 1: 1, 2: 1 } } }],
    trpc: {
      a: { 1: ['NOT_FOUND: No "subscription"-procedure on path "nope"'], 2: ['NOT_FOUND: No "subscription"-procedure on path "me"'] },
    },
  },
  {
    name: 'a subscription of a socket without a token',
    sockets: { a: { token: undefined } },
    steps: () => [{ frames: [subscribe(1)], until: { a: { 1: 1 } } }],
    trpc: { a: { 1: [signInFirst] } },
  },
  {
    name: 'a subscription id already in use, then reused once stopped',
    steps: () => [
      { frames: [subscribe(1)], until: { a: { 1: 1 } } },
      { frames: [subscribe(1, {}, { lastEventId: '0' })], until: { a: { 1: 2 } } },
      { frames: [stop(1)], until: { a: { 1: 3 } } },
      { frames: [subscribe(1)], until: { a: { 1: 4 } } },
      { frames: [stop(1)], until: { a: { 1: 5 } } },
    ],
    trpc: { a: { 1: ['started', 'BAD_REQUEST: Duplicate id 1', 'stopped', 'started', 'stopped'] } },
  },
  {
    name: 'more subscriptions than PARLEY_MAX_SUBSCRIPTIONS (a limit of the router, so tRPC applies it too)',
    steps: () => [
      { frames: [range(1, 11).map((id) => subscribe(id))], until: { a: each(1, 11, 1) } },
      { frames: [range(1, 11).map(stop)], until: { a: each(1, 10, 2) } },
    ],
    trpc: {
      a: {
        ...each(1, 10, ['started', 'stopped']),
        11: ['TOO_MANY_REQUESTS: At most 10 subscriptions per connection: stop one first'],
      },
    },
  },

  // Stops
  {
    name: 'a stop in the same frame as its subscription',
    steps: () => [{ frames: [[subscribe(1), stop(1)]], until: { a: { 1: 1 } } }, pingFence],
    trpc: { a: { 1: ['stopped'], undefined: ['PONG'] } },
  },
  {
    name: 'a stop in the same read as its subscription',
    steps: () => [{ frames: [subscribe(1), stop(1)], together: true, until: { a: { 1: 1 } } }, pingFence],
    trpc: { a: { 1: ['stopped'], undefined: ['PONG'] } },
  },
  {
    name: 'a subscription, its stop and the same id again, in one frame',
    steps: () => [{ frames: [[subscribe(1), stop(1), subscribe(1)]], until: { a: { 1: 2 } } }, pingFence],
    trpc: { a: { 1: ['BAD_REQUEST: Duplicate id 1', 'stopped'], undefined: ['PONG'] } },
  },
  {
    name: 'a stop before its subscription, in one frame',
    steps: () => [{ frames: [[stop(1), subscribe(1)]], until: { a: { 1: 1 } } }, { frames: [stop(1)], until: { a: { 1: 2 } } }],
    trpc: { a: { 1: ['started', 'stopped'] } },
  },
  {
    name: 'a stop of an id that is no subscription, and a stop without an id',
    steps: () => [{ frames: [stop(7), query(7, 'me'), stop(8), stop(null)], until: { a: { 7: 1, null: 1 } } }, pingFence],
    trpc: { a: { 7: ['data'], null: ['PARSE_ERROR: `id` is required'], undefined: ['PONG'] } },
  },

  // Batches
  {
    name: 'a batch of every kind',
    steps: (u) => [
      {
        frames: [[send(1, u.bob, 'hi'), query(2, 'me'), subscribe(3), mutation(4, 'ack', { upTo: 0 }), query(5, 'history', { with: u.bob })]],
        until: { a: { 1: 1, 2: 1, 3: 1, 4: 1, 5: 1 } },
      },
      { frames: [[stop(3)]], until: { a: { 3: 2 } } },
    ],
    trpc: { a: { 1: ['data'], 2: ['data'], 3: ['started', 'stopped'], 4: ['data'], 5: ['data'] } },
  },
  {
    name: 'a batch of PARLEY_MAX_BATCH queries',
    steps: () => [{ frames: [range(1, 10).map((id) => query(id, 'me'))], until: { a: each(1, 10, 1) } }],
    trpc: { a: each(1, 10, ['data']) },
  },
  {
    name: 'a batch of more than PARLEY_MAX_BATCH queries',
    steps: () => [{ frames: [range(1, 11).map((id) => query(id, 'me'))], until: { a: each(1, 11, 1) } }],
    trpc: { a: each(1, 11, ['data']) },
    parleyDiffers: {
      why: 'PARLEY_MAX_BATCH (10) caps the queries of one frame (they run back to back): the whole frame is refused, each call answered',
      parley: {
        a: each(1, 11, ['BAD_REQUEST: A WebSocket frame may batch at most 10 queries (PARLEY_MAX_BATCH): send fewer at once']),
      },
    },
  },
  {
    name: 'a batch of more than maxBatchSize elements',
    steps: (u) => [{ frames: [range(1, maxBatchSize + 1).map((id) => send(id, u.bob, `m${id}`))], until: { a: each(1, maxBatchSize + 1, 1) } }],
    trpc: { a: each(1, maxBatchSize + 1, ['BAD_REQUEST: Batch call exceeds maximum size']) },
  },
  {
    name: 'a batch with an element that is no call: the whole frame refused',
    steps: () => [
      { frames: [[query(1, 'me'), { id: 2 }]], until: { a: { null: 1 } } },
      { frames: [[query(3, 'me'), 'PING']], until: { a: { null: 2 } } },
      { frames: [[[query(4, 'me')]]], until: { a: { null: 3 } } },
      pingFence,
    ],
    trpc: { a: { null: ['PARSE_ERROR: Invalid procedure type', 'PARSE_ERROR: Not an object', 'PARSE_ERROR: Not an object'], undefined: ['PONG'] } },
  },
  {
    name: 'a batch with an element without an id, and an empty batch',
    steps: () => [{ frames: [[query(null, 'me'), query(2, 'me')], []], until: { a: { null: 1, 2: 1 } } }, pingFence],
    trpc: { a: { null: ['PARSE_ERROR: `id` is required'], 2: ['data'], undefined: ['PONG'] } },
  },
  {
    name: 'a batch with duplicate ids: queries, sends, subscriptions',
    steps: (u) => [
      {
        frames: [[query(1, 'me'), query(1, 'me'), send(2, u.bob, 'x'), send(2, u.bob, 'y'), subscribe(3), subscribe(3)]],
        until: { a: { 1: 2, 2: 2, 3: 2 } },
      },
      { frames: [stop(3)], until: { a: { 3: 3 } } },
    ],
    trpc: { a: { 1: ['data', 'data'], 2: ['data', 'data'], 3: ['BAD_REQUEST: Duplicate id 3', 'started', 'stopped'] } },
  },

  {
    name: 'a batch of sends, one of them invalid: the others take their seqs in order',
    sockets: { a: { user: 'alice' }, b: { user: 'bob' } },
    steps: (u) => [
      { frames: [[send(1, u.bob, 'one'), send(2, u.bob, ''), send(3, u.bob, 'three')]], until: { a: { 1: 1, 2: 1, 3: 1 } } },
      { on: 'b', frames: [subscribe(1, {}, { lastEventId: '0' })], until: { b: { 1: 3 } } },
      { on: 'b', frames: [stop(1)], until: { b: { 1: 4 } } },
    ],
    trpc: {
      a: { 1: ['data'], 2: ['BAD_REQUEST: text: must not be empty (it has only spaces or invisible characters)'], 3: ['data'] },
      b: { 1: ['started', 'data 1', 'data 2', 'stopped'] },
    },
  },
  {
    name: 'a batch with the id of a subscription whose input is invalid, and of a valid one',
    steps: () => [
      {
        frames: [[subscribe(1, { lastEventId: 'x' }), subscribe(1), subscribe(2), subscribe(2, { lastEventId: 'x' })]],
        until: { a: { 1: 2, 2: 2 } },
      },
      { frames: [stop(1), stop(2)], until: { a: { 2: 3 } } },
      pingFence,
    ],
    trpc: {
      a: {
        1: ['BAD_REQUEST: Duplicate id 1', 'BAD_REQUEST: lastEventId: must be a decimal number'],
        2: ['BAD_REQUEST: Duplicate id 2', 'started', 'stopped'],
        undefined: ['PONG'],
      },
    },
  },

  // connectionParams
  {
    name: 'no connectionParams (none announced in the URL): anonymous',
    sockets: { a: { connectionParams: false } },
    steps: (u) => [{ frames: [query(1, 'me'), mutation(2, 'auth.login', { userId: u.bob, password: 'long enough' })], until: { a: { 1: 1, 2: 1 } } }],
    trpc: { a: { 1: [signInFirst], 2: ['UNAUTHORIZED: Wrong user id or password'] } },
  },
  {
    name: 'no connectionParams in time (none announced in the URL)',
    shortAuthDeadline: true,
    sockets: { a: { connectionParams: false } },
    steps: () => [{ frames: [query(1, 'me')], until: { a: { 1: 1 } } }, { only: 'parley', closed: ['a'] }],
    trpc: { a: { 1: [signInFirst] } },
    parleyDiffers: {
      why: 'PARLEY_AUTH_TIMEOUT: a socket without a user is closed once the deadline passes',
      parley: { a: { 1: [signInFirst], close: ['4004 no connectionParams in time'] } },
    },
  },
  {
    name: 'connectionParams announced in the URL, never sent',
    shortAuthDeadline: true,
    sockets: { a: { connectionParams: true } },
    steps: () => [pingFence, { only: 'parley', closed: ['a'] }],
    trpc: { a: { undefined: ['PONG'] } },
    parleyDiffers: {
      why: 'PARLEY_AUTH_TIMEOUT: no connectionParams within the deadline closes the socket',
      parley: { a: { undefined: ['PONG'], close: ['4004 no connectionParams in time'] } },
    },
  },
  {
    name: 'connectionParams sent late (after the deadline)',
    shortAuthDeadline: true,
    sockets: { a: { connectionParams: true } },
    steps: (u) => [
      { only: 'parley', closed: ['a'] },
      { frames: [connectionParams(u.token.alice), query(1, 'me')], until: { a: { 1: 1 } } },
    ],
    trpc: { a: { 1: ['data'] } },
    parleyDiffers: {
      why: 'PARLEY_AUTH_TIMEOUT: the socket is closed before they come',
      parley: { a: { close: ['4004 no connectionParams in time'] } },
    },
  },
  {
    name: 'a call where connectionParams are expected: taken for them, refused, closed',
    sockets: { a: { connectionParams: true } },
    // In one read, so the second call comes before the close (which waits a turn).
    steps: () => [{ frames: [query(1, 'me'), query(2, 'me')], together: true, until: { a: { null: 1, 2: 1 } }, closed: ['a'] }],
    trpc: { a: { null: ['PARSE_ERROR: Invalid connection params shape'], 2: ['PARSE_ERROR: Invalid connection params shape'], close: ['1005'] } },
  },
  {
    name: 'a batch of more than PARLEY_MAX_BATCH queries where connectionParams are expected',
    sockets: { a: { connectionParams: true } },
    steps: () => [{ frames: [range(1, 11).map((id) => query(id, 'me'))], until: { a: { null: 1 } }, closed: ['a'] }],
    trpc: { a: { null: ['PARSE_ERROR: Malformed TRPCConnectionParamsMessage'], close: ['1005'] } },
  },
  {
    name: 'PING before connectionParams',
    sockets: { a: { connectionParams: true } },
    steps: (u) => [pingFence, { frames: [connectionParams(u.token.alice), query(1, 'me')], until: { a: { 1: 1 } } }],
    trpc: { a: { undefined: ['PONG'], 1: ['data'] } },
  },
  {
    name: 'connectionParams, a PING, calls and a stop in one read (while the token is checked)',
    sockets: { a: { connectionParams: true } },
    steps: (u) => [
      {
        frames: [connectionParams(u.token.alice), 'PING', send(1, u.bob, 'hi'), subscribe(2), stop(2), query(3, 'me')],
        together: true,
        until: { a: { undefined: 1, 1: 1, 2: 1, 3: 1 } },
      },
    ],
    trpc: { a: { undefined: ['PONG'], 1: ['data'], 2: ['stopped'], 3: ['data'] } },
  },
  {
    name: 'connectionParams twice',
    sockets: { a: { user: 'alice' } },
    steps: (u) => [{ frames: [connectionParams(u.token.bob), query(1, 'me')], until: { a: { null: 1, 1: 1 } } }],
    trpc: { a: { null: ['PARSE_ERROR: Invalid request id'], 1: ['data'] } },
  },
  {
    name: 'connectionParams without a token, or with null data: anonymous',
    sockets: { a: { connectionParams: true }, b: { connectionParams: true } },
    steps: () => [
      { frames: [{ method: 'connectionParams', data: {} }, query(1, 'me')], until: { a: { 1: 1 } } },
      { on: 'b', frames: [{ method: 'connectionParams', data: null }, query(1, 'me')], until: { b: { 1: 1 } } },
    ],
    trpc: { a: { 1: [signInFirst] }, b: { 1: [signInFirst] } },
  },
  {
    name: 'malformed connectionParams: not JSON, not an object, a binary frame, a number as token',
    sockets: { a: { connectionParams: true }, b: { connectionParams: true }, c: { connectionParams: true }, d: { token: 42 } },
    steps: (u) => [
      { frames: ['{"method":'], until: { a: { null: 1 } }, closed: ['a'] },
      { on: 'b', frames: ['[]'], until: { b: { null: 1 } }, closed: ['b'] },
      { on: 'c', frames: [Buffer.from(JSON.stringify(connectionParams(u.token.alice)))], until: { c: { null: 1 } }, closed: ['c'] },
      { on: 'd', until: { d: { null: 1 } }, closed: ['d'] },
    ],
    trpc: {
      a: { null: ['PARSE_ERROR: Malformed TRPCConnectionParamsMessage'], close: ['1005'] },
      b: { null: ['PARSE_ERROR: Malformed TRPCConnectionParamsMessage'], close: ['1005'] },
      c: { null: ['PARSE_ERROR: Malformed TRPCConnectionParamsMessage'], close: ['1005'] },
      d: { null: ['PARSE_ERROR: Invalid connection params shape'], close: ['1005'] },
    },
  },
  {
    name: 'a refused token',
    sockets: { a: { token: 'not-a-token' } },
    steps: () => [{ frames: [query(1, 'me')], until: { a: { 1: 1 } } }, { only: 'parley', closed: ['a'] }],
    trpc: { a: { 1: ['UNAUTHORIZED: The token is not valid for this server'] } },
    parleyDiffers: {
      why: 'a refused token closes the socket (4401, no reconnect) once its replies are out',
      parley: { a: { 1: ['UNAUTHORIZED: The token is not valid for this server'], close: ['4401 token refused'] } },
    },
  },
  {
    name: 'an expired token',
    sockets: { a: { user: 'alice', ttlSeconds: -3600 } },
    steps: () => [{ frames: [query(1, 'me')], until: { a: { 1: 1 } } }, { only: 'parley', closed: ['a'] }],
    trpc: { a: { 1: ['UNAUTHORIZED: The token has expired: sign in again'] } },
    parleyDiffers: {
      why: 'an expired token closes the socket (4001: reconnect with a fresh token) once its replies are out',
      parley: { a: { 1: ['UNAUTHORIZED: The token has expired: sign in again'], close: ['4001 token expired'] } },
    },
  },

  // Keep-alive, frames that are no calls
  {
    name: 'PING and PONG',
    steps: () => [{ frames: ['PONG', 'PING', 'PING'], until: { a: { undefined: 2 } } }, { frames: [query(1, 'me')], until: { a: { 1: 1 } } }],
    trpc: { a: { undefined: ['PONG', 'PONG'], 1: ['data'] } },
  },
  {
    name: 'frames that are not JSON, or JSON but no call',
    steps: () => [
      { frames: ['{"id":1,', 'ping', '', '42', 'null', '{"id":1,"method":"nope"}', '{"id":true,"method":"query"}'], until: { a: { null: 7 } } },
      { frames: [query(1, 'me')], until: { a: { 1: 1 } } },
    ],
    trpc: {
      a: {
        null: [
          // V8's own words: Node 22 and later add "(line 1 column 9)".
          expect.stringMatching(/^PARSE_ERROR: Expected double-quoted property name in JSON at position 8( \(line 1 column 9\))?$/),
          `PARSE_ERROR: Unexpected token 'p', "ping" is not valid JSON`,
          'PARSE_ERROR: Unexpected end of JSON input',
          'PARSE_ERROR: Not an object',
          'PARSE_ERROR: Not an object',
          'PARSE_ERROR: Invalid procedure type',
          'PARSE_ERROR: Invalid request id',
        ],
        1: ['data'],
      },
    },
  },
  {
    name: 'binary frames',
    steps: () => [
      { frames: [Buffer.from(JSON.stringify(query(1, 'me'))), Buffer.from('PING')], until: { a: { null: 2 } } },
      { frames: [query(2, 'me')], until: { a: { 2: 1 } } },
    ],
    trpc: { a: { null: Array(2).fill(`PARSE_ERROR: ${binaryRefused}`), 2: ['data'] } },
  },
  {
    name: 'a frame larger than PARLEY_MAX_PAYLOAD',
    steps: (u) => [
      { frames: [send(1, u.bob, 'x'.repeat(maxPayloadBytes))], until: { a: { 1: 1 } } },
      { only: 'parley', closed: ['a'] },
    ],
    trpc: { a: { 1: ['BAD_REQUEST: text: must be at most 4000 characters'] } },
    parleyDiffers: {
      why: 'PARLEY_MAX_PAYLOAD: ws closes the socket (1009) on a larger frame, before anything reads it',
      parley: { a: { close: ['1009'] } },
    },
  },
];

interface Target {
  kind: 'parley' | 'trpc';
  url: string;
}

/** What one socket got: its frames by call id (what differs between servers blanked), and its close. */
type Got = Record<string, { frames: Record<string, RawReply[]>; close: CloseEvent | null }>;

/**
 * What `comparable` leaves that still differs between the servers: the server-wide ids
 * of messages, and the random reference of an unexpected error (unexpected-errors.ts).
 */
function withoutServerIds(byId: Record<string, RawReply[]>): Record<string, RawReply[]> {
  return JSON.parse(JSON.stringify(byId), (key, value: unknown) => {
    if (typeof value === 'object' && value !== null && 'sentAt' in value && 'seq' in value) return { ...value, id: '…' };
    if (key === 'message' && typeof value === 'string') return value.replace(/\(error [0-9a-f]+\)/, '(error …)');
    return value;
  });
}

function describeFrame(frame: unknown): string {
  if (typeof frame === 'string') return frame;
  const { result, error } = frame as RawReply;
  if (result !== undefined) return result.id === undefined ? result.type : `${result.type} ${result.id}`;
  if (error !== undefined) return `${error.json?.data?.code}: ${error.json?.message}`;
  return JSON.stringify(frame);
}

/** `got`, described (user names in messages said as the row says them: alice, bob, ghost). */
function outcome(got: Got, u: Users): Outcome {
  const names = new RegExp(`\\b(${[u.alice, u.bob, u.ghost].join('|')})\\b`, 'g');
  const role = (name: string) => name.replace(/-\d+$/, '');
  return Object.fromEntries(
    Object.entries(got).map(([socket, { frames, close }]) => {
      const byId: Record<string, string[]> = {};
      for (const [id, list] of Object.entries(frames)) {
        byId[id] = list.map((frame) => describeFrame(frame).replace(names, role));
      }
      if (close !== null) byId['close'] = [close.reason === '' ? String(close.code) : `${close.code} ${close.reason}`];
      return [socket, byId];
    }),
  );
}

async function userOptions(spec: SocketSpec, u: Users): Promise<RawOptions> {
  if (spec.user !== undefined) return { token: await signToken(u[spec.user], spec.ttlSeconds) };
  if ('token' in spec) return { token: spec.token };
  return { connectionParams: spec.connectionParams ?? false };
}

/** Makes the row's users known to the server (a valid token does), so they can be sent to. */
async function introduce(url: string, u: Users): Promise<void> {
  for (const token of [u.token.alice, u.token.bob]) {
    const conn = await openRaw(url, { token });
    await conn.call('query', 'me');
    await conn.close();
  }
}

async function run(target: Target, row: Row, u: Users): Promise<Got> {
  await introduce(target.url, u);
  const conns: Record<string, RawConnection> = {};
  const closes: Record<string, CloseEvent> = {};
  for (const [name, spec] of Object.entries(row.sockets ?? { a: { user: 'alice' } })) {
    const conn = await openRaw(target.url, await userOptions(spec, u));
    void conn.closed.then((close) => (closes[name] = close));
    conns[name] = conn;
  }
  const connection = (name: string) => {
    const conn = conns[name];
    if (conn === undefined) throw new Error(`row "${row.name}" has no socket ${name}`);
    return conn;
  };
  const got = (): Got =>
    Object.fromEntries(
      Object.entries(conns).map(([name, conn]) => [
        name,
        { frames: withoutServerIds(comparable(conn.frames)), close: closes[name] ?? null },
      ]),
    );
  for (const [index, step] of row.steps(u).entries()) {
    if (step.only !== undefined && step.only !== target.kind) continue;
    const conn = connection(step.on ?? 'a');
    if (step.together) conn.sendTogether(step.frames ?? []);
    else for (const frame of step.frames ?? []) conn.send(frame);
    const answered = () =>
      Object.entries(step.until ?? {}).every(
        ([name, counts = {}]) =>
          name in closes ||
          Object.entries(counts).every(([id, n = 0]) => (comparable(connection(name).frames)[id]?.length ?? 0) >= n),
      ) && (step.closed ?? []).every((name) => name in closes);
    await until(`${target.kind}: step ${index}`, answered).catch((error: unknown) => {
      throw new Error(`${String(error)}; got ${JSON.stringify(outcome(got(), u))}`);
    });
  }
  const result = got();
  await Promise.all(Object.values(conns).map((conn) => conn.close()));
  return result;
}

describe('the WebSocket protocol, as tRPC’s applyWSSHandler speaks it', () => {
  let parley: TestServer;
  let parleyShortAuth: TestServer;
  let reference: TrpcReference;
  beforeAll(async () => {
    // On the embedded store, as the reference is, also under PARLEY_TEST_BACKEND=scale-out:
    // the rows compare handlers, and on PostgreSQL concurrent sends take their seqs in
    // commit order, not in the order sent.
    const embedded = { databaseUrl: undefined, redisUrl: undefined, maxPayloadBytes };
    [parley, parleyShortAuth, reference] = await Promise.all([
      startServer(embedded),
      startServer({ ...embedded, authTimeoutMs: shortAuthTimeoutMs }),
      startTrpcReference(maxBatchSize),
    ]);
  });
  afterAll(async () => {
    await Promise.all([parley?.close(), parleyShortAuth?.close(), reference?.close()]);
  });

  for (const [index, row] of rows.entries()) {
    it(row.name, async () => {
      const names = { alice: `alice-${index}`, bob: `bob-${index}`, ghost: `ghost-${index}` };
      const u: Users = { ...names, token: { alice: await signToken(names.alice), bob: await signToken(names.bob) } };
      const parleyUrl = (row.shortAuthDeadline ? parleyShortAuth : parley).url;
      const [fromParley, fromTrpc] = await Promise.all([
        run({ kind: 'parley', url: parleyUrl }, row, u),
        run({ kind: 'trpc', url: reference.url }, row, u),
      ]);
      expect(outcome(fromTrpc, u), 'tRPC').toEqual(row.trpc);
      if (row.parleyDiffers === undefined) expect(fromParley).toEqual(fromTrpc);
      else expect(outcome(fromParley, u), `Parley: ${row.parleyDiffers.why}`).toEqual(row.parleyDiffers.parley);
    });
  }
});
