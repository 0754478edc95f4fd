/**
 * @module app-router
 * The procedures of the wire contract (design.md). `AppRouter` is the type the SDK and
 * the demo are written against.
 */
import type { AccountsPort, RateLimiter } from './ports.js';
import { authedProcedure, publicProcedure, router } from './trpc.js';
import { createSchemas } from './schemas.js';
import { countingRefusals, limitFailedSignIns, limitSignUps, takeOrThrow } from './rate-limit.js';
import type { SignInLimits } from '../limits/sign-in-limits.js';
import { createMessageProcedures, type MessageProcedureDeps } from './message-procedures.js';

export interface RouterDeps extends MessageProcedureDeps {
  accounts: AccountsPort;
  /** Failed sign-ins per user id and per address, and sign-ups per address; null when off. */
  signInLimits: SignInLimits | null;
  /** The queries (`me`, `history`, `conversations`), keyed by user id; null when off. */
  queryLimiter: RateLimiter | null;
}

export function createAppRouter(deps: RouterDeps) {
  const { accounts, messages, inFlight, metrics } = deps;
  const schemas = createSchemas(deps.maxTextLength);
  // The WebSocket transport serves the same bodies directly, from its own instance
  // over the same deps (they keep no state of their own).
  const procedures = createMessageProcedures(deps);

  const limit = (limiter: RateLimiter | null, key: string, procedure: string, what: string) =>
    takeOrThrow(limiter, key, procedure, what, metrics);
  // One bucket per user for all its queries: a batch or a loop of them costs as many tokens.
  const limitQuery = (userId: string, procedure: string) =>
    limit(deps.queryLimiter, userId, procedure, 'Too many queries');

  return router({
    auth: router({
      register: publicProcedure.input(schemas.credentials).mutation(({ ctx, input }) => {
        limitSignUps(deps.signInLimits, ctx.clientIp, metrics);
        return inFlight.track(() =>
          countingRefusals('auth.register', metrics, () => accounts.register(input.userId, input.password)),
        );
      }),
      login: publicProcedure.input(schemas.credentials).mutation(({ ctx, input }) =>
        limitFailedSignIns(deps.signInLimits, { userId: input.userId, address: ctx.clientIp }, metrics, () =>
          countingRefusals('auth.login', metrics, () => accounts.login(input.userId, input.password)),
        ),
      ),
    }),

    me: authedProcedure.query(({ ctx }) => {
      limitQuery(ctx.userId, 'me');
      return { userId: ctx.userId };
    }),

    sendToUser: authedProcedure
      .input(procedures.sendToUser.input)
      .mutation(({ ctx, input }) => procedures.sendToUser.run(ctx.userId, input)),

    onMessage: authedProcedure
      .input(procedures.onMessage.input)
      // tRPC always passes a signal to subscriptions; the fallback only satisfies the type.
      .subscription(({ ctx, input, signal }) => procedures.onMessage.run(ctx, input, signal ?? new AbortController().signal)),

    ack: authedProcedure.input(procedures.ack.input).mutation(({ ctx, input }) => procedures.ack.run(ctx.userId, input)),

    history: authedProcedure.input(schemas.history).query(async ({ ctx, input }) => {
      limitQuery(ctx.userId, 'history');
      // One extra row tells whether an older page exists.
      const rows = await messages.history(ctx.userId, input.with, input.before ?? null, input.limit + 1);
      const items = rows.slice(0, input.limit);
      const hasMore = rows.length > input.limit;
      return { items, nextCursor: hasMore ? (items.at(-1)?.id ?? null) : null };
    }),

    conversations: authedProcedure.query(({ ctx }) => {
      limitQuery(ctx.userId, 'conversations');
      return messages.conversations(ctx.userId);
    }),
  });
}

export type AppRouter = ReturnType<typeof createAppRouter>;
