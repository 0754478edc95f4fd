/**
 * @module protocol
 * tRPC's WebSocket frames as Parley reads and writes them: keep-alive PING/PONG, the
 * `connectionParams` message, batches and their limits, and the reconnect notification.
 * Each frame is parsed once, here; what it asks for is served by connection.ts and
 * dispatch.ts.
 */
import { TRPCError, type AnyRouter } from '@trpc/server';
import { parseConnectionParamsFromUnknown } from '@trpc/server/http';
import { parseTRPCMessage, type TRPCClientOutgoingMessage, type TRPCResponseMessage } from '@trpc/server/rpc';

export type CallId = string | number;
/** One element of a frame, as tRPC parses it (a stop or a procedure call). */
export type Call = TRPCClientOutgoingMessage;
export type ProcedureCall = Exclude<Call, { method: 'subscription.stop' }>;
type RouterConfig = AnyRouter['_def']['_config'];

/** Sent to every client when the server stops accepting: reconnect (elsewhere, or here once back). */
export const reconnectFrame = JSON.stringify({ id: null, method: 'reconnect' });

const ping = Buffer.from('PING');
const pong = Buffer.from('PONG');

/** 'PING' and 'PONG' text frames (wsLink's keep-alive): answered before anything else, even before connectionParams. */
export function keepAliveOf(data: Buffer, isBinary: boolean): 'ping' | 'pong' | null {
  if (isBinary || data.length !== 4) return null;
  if (data.equals(ping)) return 'ping';
  return data.equals(pong) ? 'pong' : null;
}

/** JSON text frames only, as tRPC's default encoder (with its words: clients cannot tell the two apart). */
function decode(data: Buffer, isBinary: boolean): unknown {
  if (isBinary) throw new Error('jsonEncoder received binary data. JSON uses text frames. Use a binary encoder for binary data.');
  return JSON.parse(data.toString('utf8'));
}

/** The first frame of a socket opened with `?connectionParams=1`; throws a PARSE_ERROR TRPCError. */
export function readConnectionParams(data: Buffer, isBinary: boolean): Record<string, string | undefined> | null {
  let message: unknown;
  try {
    message = decode(data, isBinary);
    if (typeof message !== 'object' || message === null || Array.isArray(message)) throw new Error('Message was not an object');
  } catch (cause) {
    throw new TRPCError({ code: 'PARSE_ERROR', message: 'Malformed TRPCConnectionParamsMessage', cause });
  }
  return parseConnectionParamsFromUnknown((message as { data?: unknown }).data);
}

export interface BatchLimits {
  /** Elements of any kind in one frame, refused as tRPC refuses its `maxBatchSize`. */
  maxBatchSize: number;
  /** Queries in one frame (PARLEY_MAX_BATCH): they run back to back on the event loop. */
  maxQueries: number;
}

/** What one frame of calls asks for. */
export type Frame =
  | { kind: 'calls'; calls: Call[] }
  /** Refused whole before any input is read: every call with an id gets `error`. */
  | { kind: 'refused'; error: TRPCError; replyTo: Array<{ id: CallId; jsonrpc: '2.0' | undefined }> }
  /** Not a frame of calls: one reply with a null id. */
  | { kind: 'unreadable'; error: TRPCError };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Over a batch limit: the limit's error, else null. Counted before anything is parsed further. */
function batchRefusal(elements: unknown[], limits: BatchLimits): TRPCError | null {
  if (elements.length > limits.maxBatchSize) return new TRPCError({ code: 'BAD_REQUEST', message: 'Batch call exceeds maximum size' });
  if (elements.length <= limits.maxQueries) return null;
  let queries = 0;
  for (const element of elements) if (isObject(element) && element['method'] === 'query') queries++;
  if (queries <= limits.maxQueries) return null;
  return new TRPCError({
    code: 'BAD_REQUEST',
    message: `A WebSocket frame may batch at most ${limits.maxQueries} queries (PARLEY_MAX_BATCH): send fewer at once`,
  });
}

export function readFrame(data: Buffer, isBinary: boolean, config: RouterConfig, limits: BatchLimits): Frame {
  let value: unknown;
  try {
    value = decode(data, isBinary);
  } catch (cause) {
    return { kind: 'unreadable', error: new TRPCError({ code: 'PARSE_ERROR', cause }) };
  }
  const batch = Array.isArray(value);
  const elements: unknown[] = batch ? (value as unknown[]) : [value];
  const refusal = batch ? batchRefusal(elements, limits) : null;
  if (refusal !== null) {
    // As tRPC: each call with an id gets the error, so no client waits for an answer forever.
    const replyTo: Array<{ id: CallId; jsonrpc: '2.0' | undefined }> = [];
    for (const element of elements) {
      if (!isObject(element) || element['method'] === 'subscription.stop') continue;
      const id = element['id'];
      if (typeof id === 'number' || typeof id === 'string') replyTo.push({ id, jsonrpc: element['jsonrpc'] === '2.0' ? '2.0' : undefined });
    }
    return { kind: 'refused', error: refusal, replyTo };
  }
  try {
    return { kind: 'calls', calls: elements.map((element) => parseTRPCMessage(element, config.transformer)) };
  } catch (cause) {
    return { kind: 'unreadable', error: new TRPCError({ code: 'PARSE_ERROR', cause }) };
  }
}

/** A reply as tRPC writes it: the data and the error shape through the router's transformer. */
export function encodeResponse(config: RouterConfig, response: TRPCResponseMessage): string {
  const serialize = config.transformer.output.serialize;
  if ('error' in response) return JSON.stringify({ id: response.id, jsonrpc: response.jsonrpc, error: serialize(response.error) });
  const { result } = response;
  if (result.type !== 'data') return JSON.stringify(response);
  return JSON.stringify({ id: response.id, jsonrpc: response.jsonrpc, result: { ...result, data: serialize(result.data) } });
}
