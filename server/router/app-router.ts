/**
 * @module app-router
 * The procedures of the wire contract (design.md). `AppRouter` is the type the SDK and
 * the demo are written against.
 */
import { tracked, TRPCError } from '@trpc/server';
import type { AccountsPort, MessagesPort, RateLimiter, RequestTracker, RouterMetrics } from './ports.js';
import { authedProcedure, publicProcedure, router } from './trpc.js';
import { createSchemas } from './schemas.js';
import { RateLimitedError } from '../limits/rate-limited-error.js';

export interface RouterDeps {
  accounts: AccountsPort;
  messages: MessagesPort;
  maxTextLength: number;
  maxSubscriptionsPerConnection: number;
  /** Null when sends are not rate limited. */
  sendLimiter: RateLimiter | null;
  /** Sign-in attempts, keyed by `user:<id>` and `ip:<address>`; null when off. */
  loginLimiter: RateLimiter | null;
  inFlight: RequestTracker;
  metrics: RouterMetrics;
}

function takeOrThrow(limiter: RateLimiter | null, key: string, what: string): void {
  const result = limiter?.take(key);
  if (result && !result.ok) throw new RateLimitedError(what, result.retryAfterMs);
}

export function createAppRouter(deps: RouterDeps) {
  const { accounts, messages, inFlight, metrics } = deps;
  const schemas = createSchemas(deps.maxTextLength);
  return router({
    auth: router({
      register: publicProcedure
        .input(schemas.credentials)
        .mutation(({ input }) => inFlight.track(() => accounts.register(input.userId, input.password))),
      login: publicProcedure.input(schemas.credentials).mutation(({ ctx, input }) => {
        try {
          takeOrThrow(deps.loginLimiter, `user:${input.userId}`, 'Too many sign-in attempts for this user');
          if (ctx.clientIp !== null) {
            takeOrThrow(deps.loginLimiter, `ip:${ctx.clientIp}`, 'Too many sign-in attempts from this address');
          }
        } catch (error) {
          metrics.rateLimited('auth.login');
          throw error;
        }
        return accounts.login(input.userId, input.password);
      }),
    }),

    me: authedProcedure.query(({ ctx }) => ({ userId: ctx.userId })),

    sendToUser: authedProcedure.input(schemas.sendToUser).mutation(({ ctx, input }) => {
      try {
        takeOrThrow(deps.sendLimiter, ctx.userId, 'Too many messages');
      } catch (error) {
        metrics.rateLimited('sendToUser');
        throw error;
      }
      return inFlight.track(async () => {
        const message = await messages.send({
          from: ctx.userId,
          to: input.to,
          text: input.text,
          clientMsgId: input.clientMsgId ?? null,
        });
        metrics.messageSent();
        return message;
      });
    }),

    onMessage: authedProcedure.input(schemas.onMessage).subscription(async function* ({ ctx, input, signal }) {
      const connection = ctx.connection;
      if (connection && connection.subscriptions >= deps.maxSubscriptionsPerConnection) {
        metrics.rateLimited('onMessage');
        throw new TRPCError({
          code: 'TOO_MANY_REQUESTS',
          message: `At most ${deps.maxSubscriptionsPerConnection} subscriptions per connection: stop one first`,
        });
      }
      const after = input?.lastEventId == null ? null : Number(input.lastEventId);
      if (connection) connection.subscriptions++;
      metrics.subscriptionOpened();
      try {
        // tRPC always passes a signal to subscriptions; the fallback only satisfies the type.
        for await (const message of messages.stream(ctx.userId, after, signal ?? new AbortController().signal)) {
          metrics.messageDelivered(message.sentAt);
          yield tracked(String(message.seq), message);
          const behind = connection?.backpressure();
          if (behind) await behind;
        }
      } finally {
        if (connection) connection.subscriptions--;
        metrics.subscriptionClosed();
      }
    }),

    ack: authedProcedure
      .input(schemas.ack)
      .mutation(({ ctx, input }) =>
        inFlight.track(async () => ({ ackedSeq: await messages.ack(ctx.userId, input.upTo) })),
      ),

    history: authedProcedure.input(schemas.history).query(async ({ ctx, input }) => {
      // One extra row tells whether an older page exists.
      const rows = await messages.history(ctx.userId, input.with, input.before ?? null, input.limit + 1);
      const items = rows.slice(0, input.limit);
      const hasMore = rows.length > input.limit;
      return { items, nextCursor: hasMore ? (items.at(-1)?.id ?? null) : null };
    }),

    conversations: authedProcedure.query(({ ctx }) => messages.conversations(ctx.userId)),
  });
}

export type AppRouter = ReturnType<typeof createAppRouter>;
