/**
 * A WebSocket client that speaks tRPC's wire format by hand, for tests that need what the
 * SDK never does: send garbage, stop reading, stop answering pings, skip connectionParams.
 *
 * Wire format (superjson transformer): the first frame on `/trpc?connectionParams=1` is
 * `{"method":"connectionParams","data":{"token":T}}`; a call is
 * `{"id":1,"method":"query","params":{"path":"me","input":{"json":...}}}`; replies carry
 * the same id with `result` or `error` (both superjson-encoded: `{ json, meta? }`).
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';

export interface CloseEvent {
  code: number;
  reason: string;
}

export interface RawReply {
  id: unknown;
  result?: { type: string; id?: string; data?: { json?: unknown } };
  error?: { json?: { message?: string; code?: number; data?: { code?: string; retryAfterMs?: number | null } } };
}

export interface RawConnection {
  ws: WebSocket;
  /** Every text frame received, parsed as JSON (frames that are not JSON are kept as strings). */
  frames: unknown[];
  /** Resolves when the socket has closed, with the code the client saw. */
  closed: Promise<CloseEvent>;
  isOpen(): boolean;
  /** Sends a frame as is: a string or Buffer untouched, anything else as JSON text. */
  send(frame: string | Buffer | object): void;
  /** Sends frames in one socket write, so that the server reads them in one go. */
  sendTogether(frames: Array<string | Buffer | object>): void;
  /** The reply with this id (already received, or the next), or the close if the socket closes first. */
  reply(id: unknown): Promise<RawReply | CloseEvent>;
  /** Sends a call and resolves with its reply (or the close, if the socket closes first). */
  call(method: 'query' | 'mutation', path: string, input?: unknown): Promise<RawReply | CloseEvent>;
  /** Starts a subscription; resolves with its first reply (`started`, or an error), or the close. */
  subscribe(path: string, input?: unknown): Promise<{ id: number; reply: RawReply | CloseEvent }>;
  close(): Promise<CloseEvent>;
}

export interface RawOptions {
  /** Put `?connectionParams=1` on the URL (default: when `token` is given). */
  connectionParams?: boolean;
  /** Given (even as undefined or null): sent first, as `{ token }` in the connectionParams frame. */
  token?: unknown;
  origin?: string;
  /** Answer the server's ping frames (default true). */
  autoPong?: boolean;
}

export function wsUrl(baseUrl: string, connectionParams: boolean): string {
  const url = new URL('/trpc', baseUrl.replace(/^http/, 'ws'));
  if (connectionParams) url.searchParams.set('connectionParams', '1');
  return url.toString();
}

export function isClose(value: RawReply | CloseEvent): value is CloseEvent {
  return 'code' in value && typeof (value as CloseEvent).code === 'number' && !('id' in value);
}

/** Opens a socket (resolves once open) and, when asked, sends the connectionParams frame. */
export async function openRaw(baseUrl: string, options: RawOptions = {}): Promise<RawConnection> {
  const sendsParams = 'token' in options;
  const withParams = options.connectionParams ?? sendsParams;
  const ws = new WebSocket(wsUrl(baseUrl, withParams), {
    autoPong: options.autoPong ?? true,
    ...(options.origin === undefined ? {} : { origin: options.origin }),
  });
  const frames: unknown[] = [];
  const waiters = new Map<unknown, (reply: RawReply) => void>();
  let nextId = 1;
  let closeEvent: CloseEvent | null = null;
  const closed = new Promise<CloseEvent>((resolve) =>
    ws.once('close', (code, reason) => {
      closeEvent = { code, reason: reason.toString() };
      resolve(closeEvent);
    }),
  );
  ws.on('error', () => {}); // the close event reports what happened
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    let parsed: unknown = text;
    try {
      if (text !== null) parsed = JSON.parse(text);
    } catch {
      // kept as text
    }
    frames.push(parsed);
    const id = (parsed as { id?: unknown } | null)?.id;
    const wake = waiters.get(id);
    if (wake) {
      waiters.delete(id);
      wake(parsed as RawReply);
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake refused: ${res.statusCode}`)));
    ws.once('close', (code) => reject(new Error(`closed before open: ${code}`)));
  });

  const send = (frame: string | Buffer | object) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  };
  const awaitReply = (id: unknown) =>
    Promise.race([new Promise<RawReply>((resolve) => waiters.set(id, resolve)), closed]);

  if (sendsParams) send({ method: 'connectionParams', data: { token: options.token } });
  return {
    ws,
    frames,
    closed,
    isOpen: () => ws.readyState === WebSocket.OPEN,
    send,
    sendTogether(frames) {
      // ws writes each frame at once; corked, they leave in one write (ws has no public API for it).
      const socket = (ws as unknown as { _socket: Socket })._socket;
      socket.cork();
      for (const frame of frames) send(frame);
      socket.uncork();
    },
    reply(id) {
      const received = frames.find((f) => (f as RawReply | null)?.id === id);
      return received === undefined ? awaitReply(id) : Promise.resolve(received as RawReply);
    },
    call(method, path, input) {
      const id = nextId++;
      const reply = awaitReply(id);
      send({ id, method, params: { path, input: { json: input } } });
      return reply;
    },
    async subscribe(path, input = {}) {
      const id = nextId++;
      const reply = awaitReply(id);
      send({ id, method: 'subscription', params: { path, input: { json: input } } });
      return { id, reply: await reply };
    },
    close() {
      if (closeEvent === null) ws.close();
      return closed;
    },
  };
}

/** `promise`, or a rejection saying `what` did not happen within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The close of `connection`, or a rejection if it is still open after `ms`. */
export function closedWithin(connection: RawConnection, ms: number): Promise<CloseEvent> {
  return within(connection.closed, ms, 'the socket did not close');
}

/**
 * The status of a WebSocket handshake: 101 when the server upgraded, else the HTTP status
 * it answered with. The socket, if any, is closed again.
 */
export function handshakeStatus(baseUrl: string, headers: { origin?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(baseUrl, true), headers.origin === undefined ? {} : { origin: headers.origin });
    ws.once('upgrade', () => {
      ws.once('open', () => ws.terminate());
      resolve(101);
    });
    ws.once('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    ws.on('error', reject); // a no-op once settled
  });
}
