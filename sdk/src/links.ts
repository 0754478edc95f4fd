/**
 * @module links
 * The tRPC link every Parley client puts in front of its transport (see `parleyLink`).
 */
import { TRPCClientError, type TRPCLink, type TRPCWebSocketClient } from '@trpc/client';
import type { CombinedDataTransformer } from '@trpc/server';
import { observable } from '@trpc/server/observable';
import type { AppRouter } from './types.js';
import { backoffDelay } from './backoff.js';
import { finalErrorCodes } from '../../protocol/final-error-codes.js';

/** 96 random bits as 24 hex digits; `crypto.getRandomValues` also exists outside secure contexts. */
function randomPrefix(): string {
  let hex = '';
  for (const b of crypto.getRandomValues(new Uint8Array(12))) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/**
 * Returns a generator of ids unique to one client: 32 hex digits, a random 96-bit prefix
 * and a 32-bit counter (a new prefix when it wraps). Cheaper per send than a random UUID,
 * and as unlikely to repeat across clients.
 */
export function createIdGenerator(): () => string {
  let prefix = randomPrefix();
  let counter = 0;
  return () => {
    if (counter > 0xffffffff) {
      prefix = randomPrefix();
      counter = 0;
    }
    return prefix + (counter++).toString(16).padStart(8, '0');
  };
}


const maxRequestAttempts = 6;

function isRetryable(error: TRPCClientError<AppRouter>): boolean {
  const code = error.data?.code;
  return code === undefined || !finalErrorCodes.has(code);
}

export interface ParleyLinkOptions {
  /** Returns the error to fail every operation with once the client has stopped for good. */
  stopped?: () => Error | null;
  /**
   * Queries and mutations go straight to this socket client instead of through the next
   * link (wsLink), one observable layer less per call; subscriptions still take the next
   * link, which also reports the connection's state to them.
   */
  direct?: { client: TRPCWebSocketClient; transformer: CombinedDataTransformer };
}

/**
 * The one link every Parley client puts in front of its transport (one link, not three,
 * because every link layer costs an observable and closures per call):
 * - gives every send a `clientMsgId` the app did not set, so a retried send is stored once;
 * - retries what is safe to retry after a failure retrying can help: subscriptions (from
 *   their last tracked event id, as tRPC's retryLink does), queries, sends and acks;
 * - once `stopped()` returns an error (the server closed the connection for good), fails
 *   every operation with it, without reaching the transport, so no socket opens again.
 */
export function parleyLink({ stopped = () => null, direct }: ParleyLinkOptions = {}): TRPCLink<AppRouter> {
  const nextId = createIdGenerator();
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        const input = op.input as Record<string, unknown> | undefined;
        // Object.assign, not `{ ...input, clientMsgId }`: V8 (Node 20) builds a new hidden
        // class for every spread that adds a key, several times slower.
        const base =
          op.path === 'sendToUser' && op.type === 'mutation' && input && input['clientMsgId'] === undefined
            ? { ...op, input: Object.assign({}, input, { clientMsgId: nextId() }) }
            : op;
        const retryable = op.type !== 'mutation' || op.path === 'sendToUser' || op.path === 'ack';
        let attempts = 0;
        let lastEventId: string | undefined;
        let current: { unsubscribe(): void } | null = null;
        let timer: ReturnType<typeof setTimeout> | undefined;
        let disposed = false;

        const failIfStopped = (): boolean => {
          const reason = stopped();
          if (reason) observer.error(TRPCClientError.from<AppRouter>(reason));
          return reason !== null;
        };
        const attempt = () => {
          if (disposed || failIfStopped()) return;
          attempts++;
          const withCursor =
            lastEventId === undefined ? base : { ...base, input: Object.assign({}, base.input, { lastEventId }) };
          const source =
            direct && op.type !== 'subscription'
              ? direct.client.request({ op: withCursor, transformer: direct.transformer })
              : next(withCursor);
          current = source.subscribe({
            next: (envelope) => {
              const result = envelope.result as { type?: string; id?: unknown };
              if ((result.type === undefined || result.type === 'data') && typeof result.id === 'string') {
                lastEventId = result.id;
              }
              observer.next(envelope);
            },
            error: (error) => {
              if (disposed || failIfStopped()) return;
              const again =
                retryable &&
                isRetryable(error) &&
                (op.type === 'subscription' || attempts < maxRequestAttempts);
              if (!again) observer.error(error);
              else timer = setTimeout(attempt, backoffDelay(attempts));
            },
            complete: () => {
              if (!failIfStopped()) observer.complete();
            },
          });
        };
        attempt();
        return () => {
          disposed = true;
          clearTimeout(timer);
          current?.unsubscribe();
        };
      });
}
