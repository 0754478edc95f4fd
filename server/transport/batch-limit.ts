/**
 * @module batch-limit
 * Refuses a WebSocket frame that batches more than `maxQueries` queries before any call
 * in it runs, the way tRPC refuses an HTTP batch over its `maxBatchSize`: every call of
 * the frame that has an id is answered with BAD_REQUEST. A batch of queries runs back to
 * back on the event loop, so one frame could otherwise hold everyone else up.
 *
 * Only queries count: tRPC's WebSocket client (the SDK's) sends every call made in one
 * tick as one frame, and sends, acks and subscriptions each have a per-user limit of
 * their own (send rate, subscription cap), so an app sending 40 messages at once is not
 * refused. Served in front of every other listener, on both PARLEY_DIRECT_CALLS settings.
 */
import { TRPCError, type AnyRouter } from '@trpc/server';
import { getErrorShape, transformTRPCResponse } from '@trpc/server/unstable-core-do-not-import';
import type { RawData, WebSocket } from 'ws';

type Listener = (data: RawData, isBinary: boolean) => void;

export interface BatchLimitOptions {
  router: AnyRouter;
  maxQueries: number;
  /** Called like tRPC's `onError` for a refused frame. */
  onError: (info: { error: TRPCError; path: undefined }) => void;
}

const openBracket = '['.charCodeAt(0);
const queryMethod = Buffer.from('"query"');
/** A frame that escapes plain letters could spell "query" without the bytes above. */
const escape = Buffer.from('\\u');
/** What JSON.parse skips before a value. */
const jsonWhitespace: ReadonlySet<number> = new Set([0x20, 0x09, 0x0a, 0x0d]);

function startsWithArray(data: Buffer): boolean {
  for (const byte of data) {
    if (!jsonWhitespace.has(byte)) return byte === openBracket;
  }
  return false;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether `data` contains `needle` more than `limit` times (stops counting there). */
function occursMoreThan(data: Buffer, needle: Buffer, limit: number): boolean {
  let from = 0;
  for (let seen = 0; seen <= limit; seen++) {
    const at = data.indexOf(needle, from);
    if (at < 0) return false;
    from = at + needle.length;
  }
  return true;
}

export function createBatchLimit({ router, maxQueries, onError }: BatchLimitOptions) {
  const config = router._def._config;
  const message = `A WebSocket frame may batch at most ${maxQueries} queries (PARLEY_MAX_BATCH): send fewer at once`;

  /** The frame's calls when it batches too many queries; null otherwise (the common case: no parse). */
  function oversizeBatch(data: RawData, isBinary: boolean): unknown[] | null {
    if (isBinary || !Buffer.isBuffer(data)) return null;
    // Cheap first: a single call, or too few "query" strings to be over the limit.
    if (!startsWithArray(data)) return null;
    if (!occursMoreThan(data, queryMethod, maxQueries) && !data.includes(escape)) return null;
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch {
      return null; // tRPC answers PARSE_ERROR
    }
    if (!Array.isArray(frame)) return null;
    const queries = frame.filter((call) => isObject(call) && call['method'] === 'query').length;
    return queries > maxQueries ? frame : null;
  }

  function refuse(ws: WebSocket, calls: unknown[]): void {
    const error = new TRPCError({ code: 'BAD_REQUEST', message });
    onError({ error, path: undefined });
    const shape = getErrorShape({ config, error, type: 'unknown', path: undefined, input: undefined, ctx: undefined });
    const reply = (id: string | number | null, jsonrpc: '2.0' | undefined) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(transformTRPCResponse(config, { id, jsonrpc, error: shape })));
    };
    // As tRPC does for its own batch limit: each call with an id gets the error, so no
    // client waits for an answer forever; a frame without one gets a single reply.
    let answered = false;
    for (const call of calls) {
      if (!isObject(call) || call['method'] === 'subscription.stop') continue;
      const id = call['id'];
      if (typeof id !== 'number' && typeof id !== 'string') continue;
      reply(id, call['jsonrpc'] === '2.0' ? '2.0' : undefined);
      answered = true;
    }
    if (!answered) reply(null, undefined);
  }

  return {
    /** Puts the check in front of the socket's message listeners: call it once they are all attached. */
    attach(ws: WebSocket): void {
      const listeners = ws.listeners('message') as Listener[];
      ws.removeAllListeners('message');
      ws.on('message', (data: RawData, isBinary: boolean) => {
        const calls = oversizeBatch(data, isBinary);
        if (calls !== null) return refuse(ws, calls);
        for (const listener of listeners) listener.call(ws, data, isBinary);
      });
    },
  };
}
