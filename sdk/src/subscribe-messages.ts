/**
 * @module subscribe-messages
 * `subscribeMessages`: hands each message of the user's stream to the app exactly
 * once and in order, acknowledges it once the handler has returned, and keeps the last
 * event id in a cursor store so the next start resumes where this one stopped.
 */
import type { TRPCClientError } from '@trpc/client';
import type { ParleyClient } from './ws-client.js';
import type { AppRouter, Message } from './types.js';
import { memoryCursorStore, type CursorStore } from './cursor-store.js';

export interface SubscribeMessagesOptions {
  /** Defaults to memory: a new process then starts after the acknowledged position. */
  cursorStore?: CursorStore;
  /** A handler that threw, a failed ack, or a subscription the server refused (e.g. UNAUTHORIZED). */
  onError?: (error: unknown) => void;
  /** Acknowledge handled messages to the server (default true). */
  ack?: boolean;
}

export interface MessageSubscription {
  unsubscribe(): void;
  /** Resolves once every message received so far has been handled. */
  idle(): Promise<void>;
}

export function subscribeMessages(
  client: ParleyClient,
  handler: (message: Message) => void | Promise<void>,
  options: SubscribeMessagesOptions = {},
): MessageSubscription {
  const cursorStore = options.cursorStore ?? memoryCursorStore();
  const reportError = options.onError ?? ((error: unknown) => console.error('[parley]', error));
  const shouldAck = options.ack ?? true;
  let lastHandled = 0;
  let stopped = false;
  let chain: Promise<void> = Promise.resolve();
  let subscription: { unsubscribe(): void } | null = null;

  // Acks are coalesced: at most one in flight, then one for the highest seq since. A failed
  // ack (the SDK has already retried what can be retried) is not sent again by itself: the
  // next handled message acks past it, as acks are cumulative.
  let ackInFlight = false;
  let ackWanted = 0;
  let ackTried = 0;
  const flushAck = () => {
    if (ackInFlight || ackWanted <= ackTried || stopped) return;
    ackInFlight = true;
    const upTo = ackWanted;
    ackTried = upTo;
    client.ack.mutate({ upTo }).then(
      () => {
        ackInFlight = false;
        flushAck();
      },
      (error: unknown) => {
        ackInFlight = false;
        reportError(error);
      },
    );
  };

  const handle = async (message: Message) => {
    if (stopped || message.seq <= lastHandled) return;
    try {
      await handler(message);
    } catch (error) {
      reportError(error);
    }
    lastHandled = message.seq;
    await cursorStore.set(String(message.seq));
    if (shouldAck) {
      ackWanted = message.seq;
      flushAck();
    }
  };

  const start = async () => {
    const cursor = await cursorStore.get();
    if (cursor !== null) lastHandled = Number(cursor);
    if (stopped) return;
    subscription = client.onMessage.subscribe(cursor === null ? {} : { lastEventId: cursor }, {
      onData: ({ data }) => {
        chain = chain.then(() => handle(data)).catch(reportError);
      },
      onError: (error: TRPCClientError<AppRouter>) => reportError(error),
    });
  };
  chain = start().catch(reportError);

  return {
    unsubscribe() {
      stopped = true;
      subscription?.unsubscribe();
    },
    idle: () => chain,
  };
}
