/**
 * @module wire
 * A lean client that speaks tRPC's WebSocket wire protocol directly (no @trpc/client),
 * so the load generator costs little CPU per message and the server is what saturates.
 *
 * Frames, as checked against @trpc/server 11.25.2's ws adapter and a running Parley:
 * - open `ws://HOST:PORT/trpc?connectionParams=1`, then send
 *   `{"method":"connectionParams","data":{"token":"…"}}`;
 * - subscribe: `{"id":1,"method":"subscription","params":{"path":"onMessage","input":{"json":{}},"lastEventId":"…"?}}`,
 *   answered by `{"id":1,"result":{"type":"started"}}`; each message then arrives as
 *   `{"id":1,"result":{"type":"data","id":"<seq>","data":{"json":{"id":"<seq>","data":{…Message}},"meta":{…}}}}`
 *   (superjson serialises the whole tracked envelope `{ id, data }`);
 * - send: `{"id":N,"method":"mutation","params":{"path":"sendToUser","input":{"json":{"to":"…","text":"…"}}}}`,
 *   answered by `{"id":N,"result":{"type":"data","data":{"json":{…Message},"meta":{…}}}}`
 *   or `{"id":N,"error":{"json":{"message":"…","code":…,"data":{"code":"NOT_FOUND",…}}}}`;
 * - the forwarding relay (bench/forwarding-relay.ts) delivers the sender's send frame
 *   itself, unanswered; its id less the subscription's stands for the seq (a connection's
 *   n-th send has id n + 1, and every recipient in the bench has one sender).
 * - every input needs its `{ json }` wrapper (superjson), even a query with no input;
 * - tRPC's own keep-alive sends the text frame `PING` and expects `PONG` (Parley uses
 *   WebSocket ping frames instead, which `ws` answers by itself).
 */
import type { Socket } from 'node:net';
import WebSocket, { type RawData } from 'ws';

export interface WireHandlers {
  /** A message of the subscribed stream. */
  onMessage(conn: WireConnection, seq: number, text: string): void;
  /** The reply to a `send`, `error` set when the server refused it. */
  onReply(conn: WireConnection, error: string | null): void;
  /** The subscription ended with an error after it had started (or a connection-level error). */
  onFailure?(conn: WireConnection, error: string): void;
}

interface Frame {
  id?: number | string | null;
  result?: { type?: string; data?: { json?: { data?: { seq?: number; text?: string } } } };
  error?: { json?: { message?: string; data?: { code?: string } } };
}

const subscriptionId = 1;
const textPattern = /^[\w. -]*$/;
/** How every message of the subscription starts, from Parley and from the baseline. */
const messagePrefix = `{"id":${subscriptionId},"result":{"type":"data"`;
const replyResult = '"result":{"type":"data"';
const forwardedSend = '"method":"mutation"';

export interface OpenOptions {
  /** Source address for the TCP connection (127.0.0.x). */
  localAddress?: string;
  timeoutMs?: number;
}

/** One authenticated socket: at most one `onMessage` subscription, any number of sends. */
export class WireConnection {
  #nextId = subscriptionId + 1;
  #started: { resolve(): void; reject(error: Error): void } | null = null;
  #sendPrefix = '';
  #closing = false;
  #corked = false;
  /** Free for the caller: e.g. sends in flight, or the last seq seen. */
  inFlight = 0;
  lastSeq = 0;

  private constructor(
    readonly user: string,
    private readonly ws: WebSocket,
    private readonly handlers: WireHandlers,
  ) {
    ws.on('message', (data, isBinary) => this.#onFrame(data, isBinary));
    ws.once('close', (code, reason) => {
      if (this.#closing) return;
      const error = `socket closed by the server: ${code} ${reason.toString()}`.trim();
      if (this.#started) this.#started.reject(new Error(`${this.user}: ${error}`));
      else this.handlers.onFailure?.(this, error);
      this.#started = null;
    });
  }

  /** Opens a socket to `baseUrl` (http://…) and sends the token as connection params. */
  static open(baseUrl: string, user: string, token: string, handlers: WireHandlers, options: OpenOptions = {}) {
    const url = `${baseUrl.replace(/^http/, 'ws')}/trpc?connectionParams=1`;
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: options.timeoutMs ?? 30_000,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    return new Promise<WireConnection>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      ws.once('error', onError);
      ws.once('open', () => {
        ws.off('error', onError);
        ws.on('error', () => ws.terminate());
        ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
        resolve(new WireConnection(user, ws, handlers));
      });
    });
  }

  /** Subscribes to `onMessage` (from `lastEventId` when given); resolves on `started`. */
  subscribe(lastEventId?: string, timeoutMs = 30_000): Promise<void> {
    const params: Record<string, unknown> = { path: 'onMessage', input: { json: {} } };
    if (lastEventId !== undefined) params['lastEventId'] = lastEventId;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.user}: subscription not started in ${timeoutMs} ms`)), timeoutMs);
      this.#started = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.ws.send(JSON.stringify({ id: subscriptionId, method: 'subscription', params }));
    });
  }

  /** Fixes the recipient of `send`, so each send only formats its text. */
  sendTo(to: string): void {
    if (!textPattern.test(to)) throw new Error(`user id ${to} would need escaping`);
    this.#sendPrefix = `,"method":"mutation","params":{"path":"sendToUser","input":{"json":{"to":"${to}","text":"`;
  }

  /**
   * Sends `text` to the recipient set by `sendTo`; the text must need no JSON escaping.
   * Sends of one event-loop turn on this socket leave in one write (the socket is corked
   * until the next tick), which keeps the generator's syscalls per message low.
   */
  send(text: string): void {
    if (!this.#corked) {
      const socket = (this.ws as unknown as { _socket?: Socket })._socket;
      if (socket) {
        this.#corked = true;
        socket.cork();
        process.nextTick(() => {
          this.#corked = false;
          socket.uncork();
        });
      }
    }
    this.ws.send(`{"id":${this.#nextId++}${this.#sendPrefix}${text}"}}}}`);
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  close(): void {
    this.#closing = true;
    this.ws.terminate();
  }

  #onFrame(data: RawData, isBinary: boolean): void {
    const raw = (data as Buffer).toString();
    // Fast paths for the two frames of every message: a message of the subscription (seq
    // and text picked out; bench texts and user ids contain no quotes) and a successful
    // reply to a send. Anything else, or any other layout, is parsed in full.
    if (raw.startsWith(messagePrefix)) {
      const seqAt = raw.indexOf('"seq":');
      const textAt = raw.indexOf('"text":"');
      const textEnd = textAt < 0 ? -1 : raw.indexOf('"', textAt + 8);
      if (seqAt > 0 && textEnd > 0) {
        this.handlers.onMessage(this, parseInt(raw.slice(seqAt + 6, seqAt + 24), 10), raw.slice(textAt + 8, textEnd));
        return;
      }
    } else if (raw.startsWith('{"id":')) {
      const comma = raw.indexOf(',', 6);
      if (comma > 6 && raw.startsWith(replyResult, comma + 1) && raw.slice(6, comma) !== String(subscriptionId)) {
        this.handlers.onReply(this, null);
        return;
      }
      const textAt = raw.indexOf('"text":"');
      const textEnd = textAt < 0 ? -1 : raw.indexOf('"', textAt + 8);
      if (comma > 6 && raw.startsWith(forwardedSend, comma + 1) && textEnd > 0) {
        this.handlers.onMessage(this, parseInt(raw.slice(6, comma), 10) - subscriptionId, raw.slice(textAt + 8, textEnd));
        return;
      }
    }
    if (!isBinary && raw === 'PING') {
      this.ws.send('PONG');
      return;
    }
    const frame = JSON.parse(raw) as Frame;
    if (frame.id === subscriptionId || frame.id === null) {
      const result = frame.result;
      if (result?.type === 'data') {
        const message = result.data?.json?.data;
        this.handlers.onMessage(this, message?.seq ?? NaN, message?.text ?? '');
      } else if (result?.type === 'started') {
        this.#started?.resolve();
        this.#started = null;
      } else if (frame.error) {
        const error = `${frame.id === null ? 'connection' : 'subscription'}: ${describe(frame.error)}`;
        if (this.#started) this.#started.reject(new Error(`${this.user}: ${error}`));
        else this.handlers.onFailure?.(this, error);
        this.#started = null;
      }
      return;
    }
    this.handlers.onReply(this, frame.error ? describe(frame.error) : null);
  }
}

function describe(error: NonNullable<Frame['error']>): string {
  return `${error.json?.data?.code ?? 'ERROR'}: ${error.json?.message ?? ''}`;
}

/** Checks that a text can be put into a frame as is (see `WireConnection.send`). */
export function assertPlainText(text: string): string {
  if (!textPattern.test(text)) throw new Error('bench texts must need no JSON escaping');
  return text;
}
