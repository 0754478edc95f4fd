/**
 * @module app-router
 * The procedures of the wire contract (design.md). `AppRouter` is the type the SDK and
 * the demo are written against.
 */
import { tracked, TRPCError } from '@trpc/server';
import type { AccountsPort, MessagesPort, RateLimiter, RequestTracker, RouterMetrics } from './ports.js';
import { authedProcedure, domainTrpcError, publicProcedure, router } from './trpc.js';
import { createSchemas } from './schemas.js';
import { takeOrThrow } from './rate-limit.js';
import type { MessageMutations } from './message-mutations.js';

export interface RouterDeps {
  accounts: AccountsPort;
  messages: MessagesPort;
  /** `sendToUser` and `ack`, shared with the WebSocket transport's direct path. */
  mutations: MessageMutations;
  maxTextLength: number;
  maxSubscriptionsPerConnection: number;
  /** Sign-in attempts, keyed by `user:<id>` and `ip:<address>`, and sign-ups by `register:<address>`; null when off. */
  loginLimiter: RateLimiter | null;
  inFlight: RequestTracker;
  metrics: RouterMetrics;
}

export function createAppRouter(deps: RouterDeps) {
  const { accounts, messages, mutations, inFlight, metrics } = deps;
  const schemas = createSchemas(deps.maxTextLength);

  const limit = (limiter: RateLimiter | null, key: string, procedure: string, what: string) =>
    takeOrThrow(limiter, key, procedure, what, metrics);

  return router({
    auth: router({
      register: publicProcedure.input(schemas.credentials).mutation(({ ctx, input }) => {
        // Each registration costs a scrypt hash and a stored account.
        if (ctx.clientIp !== null) {
          limit(deps.loginLimiter, `register:${ctx.clientIp}`, 'auth.register', 'Too many sign-up attempts from this address');
        }
        return inFlight.track(() => accounts.register(input.userId, input.password));
      }),
      login: publicProcedure.input(schemas.credentials).mutation(({ ctx, input }) => {
        limit(deps.loginLimiter, `user:${input.userId}`, 'auth.login', 'Too many sign-in attempts for this user');
        if (ctx.clientIp !== null) {
          limit(deps.loginLimiter, `ip:${ctx.clientIp}`, 'auth.login', 'Too many sign-in attempts from this address');
        }
        return accounts.login(input.userId, input.password);
      }),
    }),

    me: authedProcedure.query(({ ctx }) => ({ userId: ctx.userId })),

    sendToUser: authedProcedure
      .input(mutations.sendToUser.input)
      .mutation(({ ctx, input }) => mutations.sendToUser.run(ctx.userId, input)),

    onMessage: authedProcedure.input(schemas.onMessage).subscription(async function* ({ ctx, input, signal }) {
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
      const after = input?.lastEventId == null ? null : Number(input.lastEventId);
      connection.subscriptions++;
      metrics.subscriptionOpened();
      try {
        // tRPC always passes a signal to subscriptions; the fallback only satisfies the type.
        for await (const message of messages.stream(ctx.userId, after, signal ?? new AbortController().signal)) {
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
        connection.subscriptions--;
        metrics.subscriptionClosed();
      }
    }),

    ack: authedProcedure.input(mutations.ack.input).mutation(({ ctx, input }) => mutations.ack.run(ctx.userId, input)),

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
