/**
 * @module message-mutations
 * The per-message mutations, `sendToUser` and `ack`: input schema and body. The router
 * serves them as tRPC procedures, and the WebSocket transport also answers them beneath
 * tRPC (transport/direct-mutations.ts), so both paths validate and behave alike.
 */
import type { z } from 'zod';
import type { MessagesPort, RateLimiter, RequestTracker, RouterMetrics } from './ports.js';
import { createSchemas } from './schemas.js';
import { takeOrThrow } from './rate-limit.js';

export interface MessageMutationDeps {
  messages: MessagesPort;
  maxTextLength: number;
  /** Null when sends are not rate limited. */
  sendLimiter: RateLimiter | null;
  inFlight: RequestTracker;
  metrics: Pick<RouterMetrics, 'messageSent' | 'rateLimited'>;
}

/** A mutation of an authenticated user: what its input must be, and what it does. */
export interface MessageMutation<Schema extends z.ZodTypeAny, Output> {
  input: Schema;
  run(userId: string, input: z.output<Schema>): Promise<Output>;
}

export function createMessageMutations(deps: MessageMutationDeps) {
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

  return { sendToUser, ack };
}

export type MessageMutations = ReturnType<typeof createMessageMutations>;
