/**
 * @module connection
 * One object per socket: its context (from `connectionParams.token`), its one timer
 * (the auth deadline, then the token's expiry or a refused token's close), its per-user
 * slot, its subscriptions, the heartbeat flag, and the one listener of each kind on the
 * socket. Its close releases all of it.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { AnyRouter, TRPCError } from '@trpc/server';
import type { AccountService } from '../../auth/account-service.js';
import type { Context } from '../../router/trpc.js';
import { toTrpcError } from '../../router/trpc.js';
import type { Logger } from '../../log.js';
import { closes, type CloseValue } from '../../../protocol/closes.js';
import { contextFromToken } from '../context.js';
import type { ConnectionCounter } from '../connection-counter.js';
import type { CallSite, createDispatch } from './dispatch.js';
import { keepAliveOf, readConnectionParams, readFrame, type BatchLimits, type Call, type CallId } from './protocol.js';
import { Outbox, type SlowConsumerLimits, type TurnCorker } from './slow-consumer.js';

/** What every connection of one server shares. */
export interface ConnectionHost {
  routerConfig: AnyRouter['_def']['_config'];
  dispatch: ReturnType<typeof createDispatch>;
  accounts: AccountService;
  perIp: ConnectionCounter;
  perUser: ConnectionCounter;
  batchLimits: BatchLimits;
  slowConsumer: SlowConsumerLimits;
  corker: TurnCorker;
  authTimeoutMs: number;
  log: Logger;
  /** Counts a close by its metric label. */
  countClose: (metric: string) => void;
  onError: (info: { error: TRPCError; path: string | undefined }) => void;
  /** Called once, when the socket has closed. */
  forget: (connection: Connection) => void;
}

/** A refused token's socket stays open this long, so the client gets its UNAUTHORIZED replies first. */
const refusedCloseDelayMs = 1000;
/** Longest delay `setTimeout` accepts; a later expiry is re-armed when it fires. */
const maxTimerMs = 2 ** 31 - 1;

const connectionOf = Symbol('parley connection');
type Tagged = WebSocket & { [connectionOf]?: Connection };

// One function each for every socket: the socket says whose it is.
function onMessage(this: Tagged, data: Buffer, isBinary: boolean): void {
  this[connectionOf]?.receive(data, isBinary);
}
function onPong(this: Tagged): void {
  const connection = this[connectionOf];
  if (connection !== undefined) connection.alive = true;
}
function onClose(this: Tagged, code: number): void {
  this[connectionOf]?.closed(code);
}
function onSocketError(this: Tagged, cause: Error & { code?: string }): void {
  const host = this[connectionOf]?.host;
  if (host === undefined) return;
  // ws closes with 1009 by itself, but its close event then says 1006: it never reads the client's reply.
  if (cause.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') host.countClose('max_payload');
  host.onError({ error: toTrpcError(cause), path: undefined });
}

type Phase = 'admitting' | 'awaitingParams' | 'creating' | 'ready' | 'failed';

export class Connection implements CallSite {
  ctx: Context | undefined = undefined;
  setupError: TRPCError | null = null;
  /** Answered the last heartbeat ping. */
  alive = true;
  readonly outbox: Outbox;
  #phase: Phase = 'admitting';
  /** Calls that came while the context was being created, with their batch index. */
  #held: Array<[Call, number]> | null = null;
  #subscriptions: Map<CallId, AbortController> | null = null;
  #abort: AbortController | null = null;
  #timer: NodeJS.Timeout | null = null;
  #ipCounted = false;
  #userSlot: string | null = null;

  constructor(
    readonly host: ConnectionHost,
    readonly ws: WebSocket,
    socket: Duplex,
    readonly clientIp: string | null,
    private readonly ipKey: string,
    private readonly expectsParams: boolean,
  ) {
    this.outbox = new Outbox(ws, socket, host.corker, host.slowConsumer);
    (ws as Tagged)[connectionOf] = this;
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('error', onSocketError);
    ws.on('close', onClose);
  }

  get subscriptions(): Map<CallId, AbortController> {
    return (this.#subscriptions ??= new Map());
  }

  get signal(): AbortSignal {
    return (this.#abort ??= new AbortController()).signal;
  }

  isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  send(frame: string): void {
    this.outbox.send(frame);
  }

  close(close: CloseValue): void {
    if (!this.isOpen()) return;
    this.host.countClose(close.metric);
    this.ws.close(close.code, close.reason);
  }

  /** Serves the socket once admitted by the per-address cap (server.ts). */
  start(): void {
    if (!this.host.perIp.tryAdd(this.ipKey)) return this.close(closes.ipLimit);
    this.#ipCounted = true;
    this.#arm(this.host.authTimeoutMs, () => this.close(closes.authTimeout));
    if (this.expectsParams) this.#phase = 'awaitingParams';
    else this.#createContext(() => null);
  }

  receive(data: Buffer, isBinary: boolean): void {
    const phase = this.#phase;
    if (phase === 'admitting') return;
    const keepAlive = keepAliveOf(data, isBinary);
    if (keepAlive !== null) {
      if (keepAlive === 'ping') this.send('PONG');
      return;
    }
    if (phase === 'awaitingParams') return this.#createContext(() => readConnectionParams(data, isBinary));
    const { dispatch } = this.host;
    const frame = readFrame(data, isBinary, this.host.routerConfig, this.host.batchLimits);
    if (frame.kind === 'unreadable') return dispatch.refuse(this, frame.error, []);
    if (frame.kind === 'refused') return dispatch.refuse(this, frame.error, frame.replyTo);
    const { calls } = frame;
    if (phase === 'creating') {
      const held = (this.#held ??= []);
      for (let i = 0; i < calls.length; i++) held.push([calls[i]!, i]);
      // A frame's worth waits; past that the socket is not read until the token is checked
      // (TCP holds the rest back), so what is held, and run in one turn after, stays bounded.
      if (held.length >= this.host.batchLimits.maxBatchSize && !this.ws.isPaused) this.ws.pause();
      return;
    }
    for (let i = 0; i < calls.length; i++) dispatch.run(this, calls[i]!, i);
  }

  /** The socket has closed: nothing of it stays behind. */
  closed(code: number): void {
    const host = this.host;
    host.log.debug({ code }, 'websocket closed');
    this.#phase = 'failed';
    this.#held = null;
    this.#clearTimer();
    this.outbox.dispose();
    if (this.#ipCounted) host.perIp.remove(this.ipKey);
    if (this.#userSlot !== null) host.perUser.remove(this.#userSlot);
    this.#userSlot = null;
    for (const subscription of this.#subscriptions?.values() ?? []) subscription.abort();
    this.#abort?.abort();
    const ws = this.ws as Tagged;
    ws.off('message', onMessage);
    ws.off('pong', onPong);
    delete ws[connectionOf];
    host.forget(this);
  }

  #arm(ms: number, fire: () => void): void {
    this.#clearTimer();
    this.#timer = setTimeout(fire, ms);
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #closeAtExpiry(expiresAt: number): void {
    const wait = expiresAt - Date.now();
    this.#arm(Math.max(0, Math.min(wait, maxTimerMs)), () =>
      wait > maxTimerMs ? this.#closeAtExpiry(expiresAt) : this.close(closes.tokenExpired),
    );
  }

  /** Creates the context from the connectionParams `readParams` gives (it may throw: the context is then refused). */
  #createContext(readParams: () => Record<string, string | undefined> | null): void {
    this.#phase = 'creating';
    const creating = (async () => this.#contextOf(readParams()))();
    creating.then(
      (ctx) => {
        this.ctx = ctx;
        this.#settle('ready');
      },
      (cause: unknown) => {
        const error = toTrpcError(cause);
        this.setupError = error;
        // As tRPC: the error with a null id, then the socket closes (next turn, after the replies).
        this.host.dispatch.refuse(this, error, []);
        this.#settle('failed');
        setImmediate(() => this.ws.close());
      },
    ).catch((cause: unknown) => this.host.log.error({ err: cause }, 'websocket: serving the calls held for the context failed'));
  }

  #settle(phase: 'ready' | 'failed'): void {
    if (this.#phase !== 'creating') return; // closed meanwhile
    this.#phase = phase;
    const held = this.#held;
    this.#held = null;
    if (held !== null) for (const [call, batchIndex] of held) this.host.dispatch.run(this, call, batchIndex);
    if (this.ws.isPaused) this.ws.resume();
  }

  async #contextOf(params: Record<string, string | undefined> | null): Promise<Context> {
    const { accounts, perUser, log } = this.host;
    const base = { clientIp: this.clientIp, connection: this.#connectionState() };
    const auth = await contextFromToken(accounts, params?.['token']);
    // Closed while the token was checked: take no slot and arm no timer for it.
    if (!this.isOpen()) return { ...base, userId: null, authError: null };
    if (auth.refusal !== null) {
      const close = auth.refusal === 'expired' ? closes.tokenExpired : closes.tokenRefused;
      this.#arm(refusedCloseDelayMs, () => this.close(close));
      return { ...base, userId: null, authError: auth.authError };
    }
    // A socket without a token (no connectionParams, or none in them) keeps its deadline.
    if (auth.userId === null) return { ...base, userId: null, authError: null };
    const userId = auth.userId;
    if (!perUser.tryAdd(userId)) {
      this.#clearTimer();
      this.close(closes.userLimit);
      return { ...base, userId: null, authError: `Too many connections for this user (at most ${perUser.limit})` };
    }
    this.#userSlot = userId;
    if (auth.expiresAt === null) this.#clearTimer();
    else this.#closeAtExpiry(auth.expiresAt);
    log.debug({ userId, ip: this.clientIp }, 'websocket authenticated');
    return { ...base, userId, authError: null };
  }

  /** The connection's part of the tRPC context: what the subscription cap and backpressure read. */
  #connectionState(): NonNullable<Context['connection']> {
    const outbox = this.outbox;
    return { subscriptions: 0, backpressure: () => outbox.backpressure() };
  }
}
