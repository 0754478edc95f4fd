import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MemoryBus } from '../../server/bus/memory-bus.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { collect } from '../helpers/collect.js';
import { openRaw, within, type RawConnection } from '../helpers/raw-ws.js';
import { metric } from '../helpers/metrics.js';

// `gc` for this file's worker only (vitest runs each file in its own process here).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const numRuns = 150;
const fuzzUsers = ['fuzz-0', 'fuzz-1', 'fuzz-2', 'fuzz-3'];
const sentinelId = 'sentinel';

// ---- Frames, as JSON *text*, so keys like "__proto__" reach the server verbatim. ----

const hostileKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'polluted', 'toString', 'valueOf', 'then');
const fieldKey = fc.constantFrom('to', 'text', 'clientMsgId', 'lastEventId', 'upTo', 'with', 'before', 'limit', 'userId', 'password', 'json', 'meta');
const key = fc.oneof(hostileKey, fieldKey, fc.string({ maxLength: 8 }));
const hugeNumber = fc.constantFrom(
  '1e400',
  '-1e400',
  '1.7976931348623157e308',
  '-0',
  '5e-324',
  '9007199254740993',
  '123456789012345678901234567890',
  `1${'0'.repeat(400)}`,
);
const stringLiteral = fc.oneof(
  fc.string({ maxLength: 30 }).map((s) => JSON.stringify(s)),
  fc.constantFrom('"bob"', '"alice"', '"0"', '"-1"', '"999999999999999999999"', '"Date"', '"__proto__"', '"  "', `"${'x'.repeat(5000)}"`),
);
const { json } = fc.letrec<{ json: string; leaf: string; arr: string; obj: string }>((tie) => ({
  json: fc.oneof({ depthSize: 'small', maxDepth: 4 }, tie('leaf'), tie('arr'), tie('obj')),
  leaf: fc.oneof(
    fc.constant('null'),
    fc.boolean().map(String),
    fc.integer().map(String),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
    hugeNumber,
    stringLiteral,
  ),
  arr: fc.array(tie('json'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
  obj: fc.array(fc.tuple(key, tie('json')), { maxLength: 5 }).map(objectText),
}));

function objectText(entries: Array<[string, string]>): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

const pollution = fc.constantFrom<[string, string]>(
  ['__proto__', '{"polluted":"yes"}'],
  ['constructor', '{"prototype":{"polluted":"yes"}}'],
  ['prototype', '{"polluted":"yes"}'],
);
/** Inputs shaped like sendToUser's, with wrong types, extra and hostile keys mixed in. */
const sendLike = fc
  .tuple(
    fc.option(fc.oneof(fc.constantFrom('"bob"', '"alice"', '"fuzz-1"', '"nobody"'), json)),
    fc.option(fc.oneof(stringLiteral, json)),
    fc.option(fc.oneof(stringLiteral, json)),
    fc.array(fc.oneof(pollution, fc.tuple(key, json)), { maxLength: 3 }),
  )
  .map(([to, text, clientMsgId, extra]) =>
    objectText([
      ...(to === null ? [] : [['to', to] as [string, string]]),
      ...(text === null ? [] : [['text', text] as [string, string]]),
      ...(clientMsgId === null ? [] : [['clientMsgId', clientMsgId] as [string, string]]),
      ...extra,
    ]),
  );
/** superjson's meta, whose value annotations name paths into the input. */
const metaPath = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'polluted', 'to', 'text', 'json', ''),
  fc.string({ maxLength: 6 }),
);
const annotation = fc.oneof(
  fc.constantFrom('["Date"]', '["bigint"]', '["undefined"]', '["set"]', '["map"]', '["regexp"]', '["Error"]', '["number"]'),
  fc.constantFrom('["class","Object"]', '["custom","x"]', '["symbol","x"]', '"Date"'),
  json,
);
const { valuesTree } = fc.letrec<{ valuesTree: string }>((tie) => ({
  valuesTree: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    annotation,
    fc.array(fc.tuple(metaPath, tie('valuesTree')), { maxLength: 3 }).map(objectText),
  ),
}));
const meta = fc.oneof(
  json,
  fc
    .tuple(valuesTree, fc.array(fc.tuple(metaPath, fc.array(metaPath, { maxLength: 2 })), { maxLength: 2 }))
    .map(
      ([values, refs]) =>
        `{"values":${values},"referentialEqualities":${objectText(refs.map(([k, v]) => [k, JSON.stringify(v)]))},"v":1}`,
    ),
);
/** Inputs shaped like onMessage's (and the other small ones): few keys, some valid. */
const smallInput = fc
  .array(fc.oneof(fc.tuple(fc.constantFrom('lastEventId', 'upTo', 'with', 'limit'), fc.oneof(stringLiteral, json)), pollution), {
    maxLength: 2,
  })
  .map(objectText);
const input = fc.oneof(
  { weight: 4, arbitrary: sendLike.map((j) => `{"json":${j}}`) },
  { weight: 2, arbitrary: smallInput.map((j) => `{"json":${j}}`) },
  { weight: 2, arbitrary: fc.tuple(sendLike, meta).map(([j, m]) => `{"json":${j},"meta":${m}}`) },
  { weight: 1, arbitrary: fc.tuple(json, meta).map(([j, m]) => `{"json":${j},"meta":${m}}`) },
  { weight: 1, arbitrary: json.map((j) => `{"json":${j}}`) },
  { weight: 1, arbitrary: json },
  { weight: 1, arbitrary: sendLike },
);
const path = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('sendToUser', 'onMessage', 'ack', 'history', 'conversations', 'me', 'auth.login', 'auth.register') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'auth.__proto__', 'auth.constructor', '__proto__.polluted', 'sendToUser.call', ''),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
);
const method = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('query', 'mutation', 'subscription', 'subscription.stop') },
  { weight: 1, arbitrary: fc.constantFrom('connectionParams', 'reconnect', '__proto__', 'constructor') },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);
const callId = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: -1, max: 50 }).map(String) },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }).map((s) => JSON.stringify(`f${s}`)) },
  { weight: 1, arbitrary: json },
);
const trpcFrame = fc
  .tuple(callId, method, path, fc.option(input, { freq: 8 }), fc.option(fc.oneof(stringLiteral, json), { freq: 5 }), fc.boolean())
  .map(
    ([id, m, p, i, lastEventId, jsonrpc]) =>
      `{"id":${id},${jsonrpc ? '"jsonrpc":"2.0",' : ''}"method":${JSON.stringify(m)},"params":{"path":${JSON.stringify(p)}` +
      `${i === null ? '' : `,"input":${i}`}${lastEventId === null ? '' : `,"lastEventId":${lastEventId}`}}}`,
  );

/** Well-formed subscriptions, so that connections die with live subscriptions (which must be released). */
const subscription = fc
  .tuple(fc.integer({ min: 1, max: 50 }), fc.option(fc.nat({ max: 20 }).map(String)))
  .map(([id, lastEventId]) =>
    JSON.stringify({ id, method: 'subscription', params: { path: 'onMessage', input: { json: lastEventId === null ? {} : { lastEventId } } } }),
  );

type Frame = { text: string } | { bytes: Uint8Array; binary: boolean };
const frame: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 24, arbitrary: trpcFrame.map((text) => ({ text })) },
  { weight: 3, arbitrary: subscription.map((text) => ({ text })) },
  { weight: 4, arbitrary: json.map((text) => ({ text })) },
  { weight: 4, arbitrary: fc.array(trpcFrame, { minLength: 1, maxLength: 6 }).map((fs) => ({ text: `[${fs.join(',')}]` })) },
  // Malformed JSON: a frame cut short, or with a stray character inside.
  {
    weight: 4,
    arbitrary: fc.tuple(trpcFrame, fc.nat(), fc.string({ minLength: 1, maxLength: 1 })).map(([text, at, c]) => {
      const cut = at % text.length;
      return { text: at % 2 === 0 ? text.slice(0, cut) : text.slice(0, cut) + c + text.slice(cut) };
    }),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ text })) },
  { weight: 2, arbitrary: fc.constantFrom('PING', 'PONG', '', 'null', '[]', '{}', '[[[[[[[[]]]]]]]]').map((text) => ({ text })) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ bytes, binary: true })) },
  // A text frame that is not UTF-8 (the server closes with 1007).
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(new Uint8Array([0xff, 0xfe, 0x7b]), new Uint8Array([0xc3, 0x28]))
      .map((bytes) => ({ bytes, binary: false })),
  },
);

/** How a fuzzing connection introduces itself. */
type Opening =
  | { kind: 'token'; user: string }
  | { kind: 'anonymous' }
  | { kind: 'params'; text: string }
  | { kind: 'first-frame'; first: Frame };
interface Plan {
  opening: Opening;
  frames: Frame[];
}
const opening: fc.Arbitrary<Opening> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...fuzzUsers).map((user) => ({ kind: 'token' as const, user })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'anonymous' as const }) },
  // connectionParams frame with fuzzed data (a token that is no string, an object with __proto__ ...).
  { weight: 1, arbitrary: json.map((data) => ({ kind: 'params' as const, text: `{"method":"connectionParams","data":${data}}` })) },
  // The first frame (taken as connectionParams) is any fuzz frame at all.
  { weight: 1, arbitrary: frame.map((first) => ({ kind: 'first-frame' as const, first })) },
);
const plan: fc.Arbitrary<Plan> = fc.record({ opening, frames: fc.array(frame, { maxLength: 8 }) });

/** How the server answered, over the whole run: proves the frames reached validation and the procedures. */
const outcomes = new Map<string, number>();
function tally(frames: unknown[]): void {
  for (const f of frames) {
    const reply = f as { result?: { type?: string }; error?: { json?: { data?: { code?: string } } } } | null;
    const kind = reply?.result ? `result:${reply.result.type}` : (reply?.error?.json?.data?.code ?? 'other');
    outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
  }
}

function sendFrame(c: RawConnection, f: Frame): void {
  if (!c.isOpen()) return;
  if ('text' in f) c.ws.send(f.text);
  else c.ws.send(f.bytes, { binary: f.binary });
}

async function openFor(t: TestServer, tokens: Map<string, string>, p: Plan): Promise<RawConnection> {
  const o = p.opening;
  if (o.kind === 'token') return openRaw(t.url, { token: tokens.get(o.user) });
  if (o.kind === 'anonymous') return openRaw(t.url, { connectionParams: false });
  const c = await openRaw(t.url, { connectionParams: true });
  if (o.kind === 'params') c.ws.send(o.text);
  else sendFrame(c, o.first);
  return c;
}

/** Runs one connection's frames, then waits until the server has dealt with all of them. */
async function runPlan(t: TestServer, tokens: Map<string, string>, p: Plan): Promise<void> {
  const c = await openFor(t, tokens, p);
  try {
    for (const f of p.frames) sendFrame(c, f);
    // Frames are handled in order: once the sentinel is answered (or the socket closed), all were.
    c.send({ id: sentinelId, method: 'query', params: { path: 'me', input: { json: null } } });
    await within(c.reply(sentinelId), 10_000, 'the server neither answered nor closed the socket');
  } finally {
    tally(c.frames);
    c.ws.terminate();
    await c.closed;
  }
}

function prototypeSnapshot() {
  return [Object.prototype, Array.prototype, Function.prototype, String.prototype].map((proto) =>
    Object.entries(Object.getOwnPropertyDescriptors(proto)).map(([name, d]) => [name, d.value, d.get, d.set]),
  );
}

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('fuzzing a live server', () => {
  it('survives random frames from many connections: no crash, no prototype pollution, others keep messaging, resources and memory settle', { timeout: 120_000 }, async () => {
    const bus = new MemoryBus();
    await using t = await startServer({ sendRateLimit: null }, { bus });
    const tokens = new Map(await Promise.all(fuzzUsers.map(async (u) => [u, await t.token(u)] as const)));
    for (const u of fuzzUsers) await (await t.http(u)).me.query();
    const alice = await t.client('alice');
    const bob = await t.client('bob');
    const aliceInbox = collect(alice);
    const bobInbox = collect(bob);
    await vi.waitFor(async () => expect(await metric(t.url, 'parley_subscriptions')).toBe(2));
    const prototypesBefore = prototypeSnapshot();

    // Alice and bob message each other all along, paced, and time every send.
    let fuzzing = true;
    const sent = { alice: [] as string[], bob: [] as string[] };
    const gaps: number[] = [];
    const converse = async (from: 'alice' | 'bob') => {
      const client = from === 'alice' ? alice : bob;
      const to = from === 'alice' ? 'bob' : 'alice';
      let last = Date.now();
      for (let i = 0; fuzzing && i < 10_000; i++) {
        await client.sendToUser.mutate({ to, text: `${from} ${i}` });
        sent[from].push(`${from} ${i}`);
        gaps.push(Date.now() - last);
        last = Date.now();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const conversation = Promise.all([converse('alice'), converse('bob')]);
    // Warm up before the memory baseline (first sends, JIT, caches).
    await vi.waitFor(() => expect(sent.alice.length).toBeGreaterThanOrEqual(5));
    const heapBefore = heapAfterGc();

    try {
      await fc.assert(
        fc.asyncProperty(fc.array(plan, { minLength: 1, maxLength: 4 }), async (plans) => {
          await Promise.all(plans.map((p) => runPlan(t, tokens, p)));
          expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
          expect(prototypeSnapshot()).toEqual(prototypesBefore);
        }),
        { numRuns },
      );
    } finally {
      fuzzing = false;
      await conversation;
    }

    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const received = (inbox: typeof aliceInbox, from: string) =>
      inbox.messages.filter((m) => m.from === from).map((m) => m.text);
    await vi.waitFor(() => {
      expect(received(bobInbox, 'alice')).toEqual(sent.alice);
      expect(received(aliceInbox, 'bob')).toEqual(sent.bob);
    });
    expect(sent.alice.length).toBeGreaterThan(20);
    // No stall: the conversation never waited seconds for a send while the fuzzing ran.
    expect(Math.max(...gaps)).toBeLessThan(5_000);

    await vi.waitFor(async () => {
      expect(await metric(t.url, 'parley_connections')).toBe(2);
      expect(await metric(t.url, 'parley_subscriptions')).toBe(2);
      expect(bus.subscribedUsers).toBe(2);
    });
    // About 3 MB here (the conversation's own messages, caches, code); a leak per connection or frame is far more.
    expect(heapAfterGc() - heapBefore).toBeLessThan(12 * 1024 * 1024);
    for (const kind of ['result:data', 'result:started', 'BAD_REQUEST', 'PARSE_ERROR', 'UNAUTHORIZED', 'NOT_FOUND']) {
      expect({ kind, seen: (outcomes.get(kind) ?? 0) > 0 }).toEqual({ kind, seen: true });
    }
  });
});
