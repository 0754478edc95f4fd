/**
 * @module trpc
 * tRPC initialisation: the context shape, superjson, and the public and authenticated
 * procedure bases. Domain errors become tRPC error codes here, at the edge.
 */
import { getTRPCErrorFromUnknown, initTRPC, TRPCError } from '@trpc/server';
import { transformer } from './transformer.js';
import {
  ClientMsgIdConflictError,
  CursorPastHeadError,
  InvalidCredentialsError,
  StoreUnavailableError,
  UnknownRecipientError,
  UserExistsError,
} from '../messages/errors.js';
import { RateLimitedError } from '../limits/rate-limited-error.js';
import { isUnexpected, unexpectedMessage } from './unexpected-errors.js';
import { validationDetails } from './validation-errors.js';
import { ShuttingDownError } from '../lifecycle/in-flight.js';

/**
 * Kept a plain interface so the SDK's bundled types carry no server internals.
 * `authError` says why a presented token was refused (never the token itself).
 */
export interface Context {
  userId: string | null;
  authError: string | null;
  /** The client's address (rate limits of sign-in attempts). */
  clientIp: string | null;
  /** State of one WebSocket connection; null over HTTP. */
  connection: {
    subscriptions: number;
    /** A promise to await before sending more, while the client is behind; else null. */
    backpressure: () => Promise<void> | null;
  } | null;
}

const t = initTRPC.context<Context>().create({
  transformer,
  // Never send stack traces to clients.
  isDev: false,
  // Subscriptions only over the WebSocket, where their limits (subscription cap,
  // backpressure, slow consumers, token expiry) apply.
  sse: { enabled: false },
  errorFormatter: ({ shape, error }) => {
    const invalid = validationDetails(error);
    return {
      ...shape,
      message: isUnexpected(error) ? unexpectedMessage(error) : (invalid?.message ?? shape.message),
      data: {
        ...shape.data,
        // When a rate-limited request may be sent again.
        retryAfterMs: error.cause instanceof RateLimitedError ? error.cause.retryAfterMs : null,
        // Which input fields were refused, and why (null unless the input failed validation).
        fieldErrors: invalid?.fieldErrors ?? null,
        formErrors: invalid?.formErrors ?? null,
      },
    };
  },
});

const domainErrorCodes = [
  [UnknownRecipientError, 'NOT_FOUND'],
  [ClientMsgIdConflictError, 'CONFLICT'],
  [UserExistsError, 'CONFLICT'],
  [InvalidCredentialsError, 'UNAUTHORIZED'],
  [RateLimitedError, 'TOO_MANY_REQUESTS'],
  // 503: the SDK retries it (a send keeps its clientMsgId, so it is stored once).
  [StoreUnavailableError, 'SERVICE_UNAVAILABLE'],
  [ShuttingDownError, 'SERVICE_UNAVAILABLE'],
  // Terminal in the SDK: resubscribing from the same cursor would wait forever again.
  [CursorPastHeadError, 'BAD_REQUEST'],
] as const;

/** The tRPC error a domain failure calls for, or null when `cause` is not one. */
export function domainTrpcError(cause: unknown): TRPCError | null {
  for (const [type, code] of domainErrorCodes) {
    if (cause instanceof type) return new TRPCError({ code, message: cause.message, cause });
  }
  return null;
}

/**
 * The one mapping of a failure to what the client gets, on every path: a domain error
 * (raised directly, or wrapped by tRPC as the cause of its INTERNAL_SERVER_ERROR) gets
 * its code; anything else is as tRPC would report it.
 */
export function toTrpcError(cause: unknown): TRPCError {
  if (cause instanceof TRPCError && cause.code !== 'INTERNAL_SERVER_ERROR') return cause;
  return domainTrpcError(cause instanceof TRPCError ? cause.cause : cause) ?? getTRPCErrorFromUnknown(cause);
}

function throwAsTrpcError(error: TRPCError): void {
  if (domainTrpcError(error.cause) !== null) throw toTrpcError(error);
}

export const router = t.router;

export const publicProcedure = t.procedure.use(async ({ next }) => {
  const result = await next();
  if (!result.ok) throwAsTrpcError(result.error);
  return result;
});

// One middleware for both jobs: each middleware level costs tRPC several object copies
// per call, on the hot path of every send.
export const authedProcedure = t.procedure.use(async ({ ctx, next }) => {
  if (ctx.userId === null) {
    throw new TRPCError({
      code: 'UNAUTHORIZED',
      message: ctx.authError ?? 'Sign in first: send a token (connectionParams.token, or Authorization: Bearer)',
    });
  }
  const result = await next({ ctx: { userId: ctx.userId } });
  if (!result.ok) throwAsTrpcError(result.error);
  return result;
});
