/**
 * @module direct-call
 * Runs a query or mutation through an operation link (the Parley link) and returns its
 * result as a promise, without the tRPC client's generic request path: that path builds a
 * link chain and a shared observable for every call, and an AbortController it aborts
 * when the call completes, which creates a DOMException (a stack trace) per call. The SDK
 * uses this for its per-message calls (`sendToUser`, `ack`); same link, so the same
 * clientMsgId, retries and errors.
 */
import { TRPCClientError, type OperationContext, type OperationLink, type TRPCProcedureOptions } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import type { AppRouter } from './types.js';

export type DirectCall = (
  type: 'query' | 'mutation',
  path: string,
  input: unknown,
  opts?: TRPCProcedureOptions,
) => Promise<unknown>;

/** `link` must settle queries and mutations itself (the Parley link with `direct` does). */
export function createDirectCall(link: OperationLink<AppRouter>): DirectCall {
  let requestId = 0;
  const unreachable = () =>
    observable<never, TRPCClientError<AppRouter>>((observer) => {
      observer.error(TRPCClientError.from(new Error('Parley: a direct call reached the next link')));
    });
  return (type, path, input, opts) =>
    new Promise((resolve, reject) => {
      const signal = opts?.signal ?? null;
      const context: OperationContext = opts?.context ?? {};
      let settled = false;
      let subscription: { unsubscribe(): void } | null = null;
      try {
        subscription = link({ op: { id: ++requestId, type, path, input, context, signal }, next: unreachable }).subscribe({
          next(envelope) {
            settled = true;
            resolve((envelope.result as { data?: unknown }).data);
            subscription?.unsubscribe();
          },
          error(error) {
            settled = true;
            reject(TRPCClientError.from(error));
          },
          complete() {
            // Completing without a result: the call's signal aborted it. Like tRPC's client,
            // the cause is an AbortError whatever reason the signal carries.
            if (!settled) reject(TRPCClientError.from(new DOMException('This operation was aborted', 'AbortError')));
          },
        });
      } catch (error) {
        // E.g. an input the transformer cannot serialise.
        reject(TRPCClientError.from(error instanceof Error ? error : new Error(String(error))));
        return;
      }
      if (settled) subscription.unsubscribe();
    });
}
