/**
 * @module message-procedures
 * The per-message procedures, `sendToUser`, `ack` and `onMessage`: input schema and
 * body. The router serves them through tRPC, and the WebSocket transport serves them
 * directly (transport/ws/dispatch.ts), so both paths validate and behave alike.
 */
import { tracked, TRPCError } from '@trpc/server';
import type { z } from 'zod';
import type { Message } from '../messages/message.js';
import type { MessagesPort, RateLimiter, RequestTracker, RouterMetrics } from './ports.js';
import type { Context } from './trpc.js';
import { domainTrpcError } from './trpc.js';
import { createSchemas } from './schemas.js';
import { takeOrThrow } from './rate-limit.js';

export interface MessageProcedureDeps {
  messages: MessagesPort;
  maxTextLength: number;
  maxSubscriptionsPerConnection: number;
  /** Null when sends are not rate limited. */
  sendLimiter: RateLimiter | null;
  inFlight: RequestTracker;
  metrics: RouterMetrics;
}

/** A mutation of an authenticated user: what its input must be, and what it does. */
export interface MessageMutation<Schema extends z.ZodTypeAny, Output> {
  input: Schema;
  run(userId: string, input: z.output<Schema>): Promise<Output>;
}

export function createMessageProcedures(deps: MessageProcedureDeps) {
  const { messages, inFlight, metrics } = deps;
  const schemas = createSchemas(deps.maxTextLength);

  const sendToUser = {
    input: schemas.sendToUser,
    run(userId: string, input: z.output<typeof schemas.sendToUser>) {
      takeOrThrow(deps.sendLimiter, userId, 'sendToUser', 'Too many messages', metrics);
      return inFlight.track(async () => {
        const message = await messages.send({
          from: userId,
          to: input.to,
          text: input.text,
          clientMsgId: input.clientMsgId ?? null,
        });
        metrics.messageSent();
        return message;
      });
    },
  } satisfies MessageMutation<typeof schemas.sendToUser, unknown>;

  const ack = {
    input: schemas.ack,
    run(userId: string, input: z.output<typeof schemas.ack>) {
      return inFlight.track(async () => ({ ackedSeq: await messages.ack(userId, input.upTo) }));
    },
  } satisfies MessageMutation<typeof schemas.ack, unknown>;

  /** The opened stream as tracked events (id = seq), at the connection's pace; `release` frees its place. */
  async function* deliver(
    stream: AsyncIterable<Message>,
    connection: NonNullable<Context['connection']>,
    release: () => void,
  ) {
    try {
      for await (const message of stream) {
        metrics.messageDelivered(message.sentAt);
        yield tracked(String(message.seq), message);
        const behind = connection.backpressure();
        if (behind) await behind;
      }
    } catch (error) {
      // Failures while streaming bypass the middleware's mapping (e.g. a store outage
      // during a replay must reach the client as retryable, not as a bug).
      throw domainTrpcError(error) ?? error;
    } finally {
      release();
    }
  }

  const onMessage = {
    input: schemas.onMessage,
    /**
     * The user's stream, replay first, until `signal` aborts. Whatever refuses the
     * subscription (no WebSocket, the per-connection cap, a cursor past the stream's head,
     * the store) rejects this promise, so the client gets the error alone, never
     * 'started' first; both transports answer 'started' only once it resolves.
     */
    async run(
      ctx: Pick<Context, 'connection'> & { userId: string },
      input: z.output<typeof schemas.onMessage>,
      signal: AbortSignal,
    ) {
      const connection = ctx.connection;
      // Over HTTP (server-sent events) none of the connection's limits would apply.
      if (connection === null) {
        throw new TRPCError({ code: 'METHOD_NOT_SUPPORTED', message: 'onMessage is served over the WebSocket at /trpc only' });
      }
      if (connection.subscriptions >= deps.maxSubscriptionsPerConnection) {
        metrics.rateLimited('onMessage');
        throw new TRPCError({
          code: 'TOO_MANY_REQUESTS',
          message: `At most ${deps.maxSubscriptionsPerConnection} subscriptions per connection: stop one first`,
        });
      }
      // Counted from here, not from the first event: the other subscriptions of the same
      // batch are checked meanwhile.
      connection.subscriptions++;
      metrics.subscriptionOpened();
      let counted = true;
      const release = () => {
        if (!counted) return;
        counted = false;
        signal.removeEventListener('abort', release);
        connection.subscriptions--;
        metrics.subscriptionClosed();
      };
      // A stream the transport drops before starting it (stopped or closed meanwhile) is
      // aborted, never iterated.
      signal.addEventListener('abort', release, { once: true });
      const after = input?.lastEventId == null ? null : Number(input.lastEventId);
      try {
        return deliver(await messages.stream(ctx.userId, after, signal), connection, release);
      } catch (error) {
        release();
        throw domainTrpcError(error) ?? error;
      }
    },
  };

  return { sendToUser, ack, onMessage };
}

export type MessageProcedures = ReturnType<typeof createMessageProcedures>;
