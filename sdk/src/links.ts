/**
 * @module links
 * The tRPC links every Parley client puts in front of its transport: a `clientMsgId`
 * on every send (so a retried send is stored once), and retries of what is safe to
 * retry (subscriptions resume from their last tracked id).
 */
import { retryLink, TRPCClientError, type TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import type { AppRouter } from './types.js';
import { backoffDelay } from './backoff.js';

const hex = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/**
 * 128 random bits as 32 hex digits: `crypto.randomUUID` where there is one (fast, native),
 * else `crypto.getRandomValues`, which also exists outside secure contexts (plain-http
 * pages on a LAN address).
 */
export function randomId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID().replaceAll('-', '');
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let id = '';
  for (const b of bytes) id += hex[b];
  return id;
}

/** Gives every send a `clientMsgId` the app did not set; other operations pass untouched. */
export function clientMsgIdLink(): TRPCLink<AppRouter> {
  return () =>
    ({ op, next }) => {
      const input = op.input as Record<string, unknown> | undefined;
      const needsId = op.path === 'sendToUser' && op.type === 'mutation' && input && input['clientMsgId'] === undefined;
      return next(needsId ? { ...op, input: { ...input, clientMsgId: randomId() } } : op);
    };
}

/** Codes after which trying again cannot help: the request itself is refused. */
const finalCodes = new Set([
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'PARSE_ERROR',
  'METHOD_NOT_SUPPORTED',
  'PAYLOAD_TOO_LARGE',
  'UNPROCESSABLE_CONTENT',
  'TOO_MANY_REQUESTS',
]);

const maxRequestAttempts = 6;

function isRetryable(error: TRPCClientError<AppRouter>): boolean {
  const code = error.data?.code;
  return code === undefined || !finalCodes.has(code);
}

/**
 * Once `stopped()` returns an error (the server closed the connection for good), every
 * operation fails with it, without reaching the transport, so no socket is opened again.
 */
export function stoppedLink(stopped: () => Error | null): TRPCLink<AppRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        const fail = (error: Error) => observer.error(TRPCClientError.from<AppRouter>(error));
        const before = stopped();
        if (before) {
          fail(before);
          return;
        }
        const subscription = next(op).subscribe({
          next: (value) => observer.next(value),
          error: (error) => {
            const reason = stopped();
            if (reason) fail(reason);
            else observer.error(error);
          },
          complete: () => {
            const reason = stopped();
            if (reason) fail(reason);
            else observer.complete();
          },
        });
        return () => subscription.unsubscribe();
      });
}

/** `isStopped`: true once the client has stopped for good; nothing is retried then. */
export function parleyRetryLink({ isStopped = () => false }: { isStopped?: () => boolean } = {}): TRPCLink<AppRouter> {
  return retryLink<AppRouter>({
    retry: ({ op, error, attempts }) => {
      if (isStopped() || !isRetryable(error)) return false;
      if (op.type === 'subscription') return true;
      // Sends are idempotent through clientMsgId; acks only ever move forward.
      const safe = op.type === 'query' || op.path === 'sendToUser' || op.path === 'ack';
      return safe && attempts < maxRequestAttempts;
    },
    retryDelayMs: (attempt) => backoffDelay(attempt),
  });
}
