/**
 * @module app-router
 * The procedures of the wire contract (design.md). `AppRouter` is the type the SDK and
 * the demo are written against.
 */
import { tracked } from '@trpc/server';
import type { AccountsPort, MessagesPort } from './ports.js';
import { authedProcedure, publicProcedure, router } from './trpc.js';
import { createSchemas } from './schemas.js';

export interface RouterDeps {
  accounts: AccountsPort;
  messages: MessagesPort;
  maxTextLength: number;
}

export function createAppRouter({ accounts, messages, maxTextLength }: RouterDeps) {
  const schemas = createSchemas(maxTextLength);
  return router({
    auth: router({
      register: publicProcedure
        .input(schemas.credentials)
        .mutation(({ input }) => accounts.register(input.userId, input.password)),
      login: publicProcedure
        .input(schemas.credentials)
        .mutation(({ input }) => accounts.login(input.userId, input.password)),
    }),

    me: authedProcedure.query(({ ctx }) => ({ userId: ctx.userId })),

    sendToUser: authedProcedure.input(schemas.sendToUser).mutation(({ ctx, input }) =>
      messages.send({
        from: ctx.userId,
        to: input.to,
        text: input.text,
        clientMsgId: input.clientMsgId ?? null,
      }),
    ),

    onMessage: authedProcedure.input(schemas.onMessage).subscription(async function* ({ ctx, input, signal }) {
      const after = input?.lastEventId == null ? null : Number(input.lastEventId);
      // tRPC always passes a signal to subscriptions; the fallback only satisfies the type.
      for await (const message of messages.stream(ctx.userId, after, signal ?? new AbortController().signal)) {
        yield tracked(String(message.seq), message);
      }
    }),

    ack: authedProcedure
      .input(schemas.ack)
      .mutation(async ({ ctx, input }) => ({ ackedSeq: await messages.ack(ctx.userId, input.upTo) })),

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
