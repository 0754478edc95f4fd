/**
 * @module types
 * Shapes the SDK hands to apps, all inferred from the server's `AppRouter`.
 */
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '../../server/router/app-router.js';

export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
/** A stored message: `sentAt` is a real `Date`. */
export type Message = RouterOutputs['sendToUser'];
export type Conversation = RouterOutputs['conversations'][number];
export type Session = RouterOutputs['auth']['login'];

/** A token, or a function returning one; the function is called again on every reconnect. */
export type TokenSource = string | (() => string | Promise<string>);
