/**
 * @module unexpected-errors
 * Errors a client should not read: a bug on the server (INTERNAL_SERVER_ERROR), or an
 * input the transformer could not even read (tRPC reports those as BAD_REQUEST with the
 * engine's text: "Cannot destructure property 'json'…", "Maximum call stack size
 * exceeded"). The client gets a generic message with an id; the log gets the details
 * under the same id, so an operator can find what a user reports.
 */
import { randomBytes } from 'node:crypto';
import type { TRPCError } from '@trpc/server';

/** tRPC hands the same error object to `onError` and to the error formatter. */
const ids = new WeakMap<object, string>();

export function errorId(error: object): string {
  let id = ids.get(error);
  if (id === undefined) ids.set(error, (id = randomBytes(6).toString('hex')));
  return id;
}

/** The engine's own errors: what they say is about our code or the parser, not the request. */
const engineErrors = [TypeError, RangeError, ReferenceError];

export function isUnexpected(error: TRPCError): boolean {
  return error.code === 'INTERNAL_SERVER_ERROR' || engineErrors.some((type) => error.cause instanceof type);
}

/** What the client reads instead of an unexpected error's own message. */
export function unexpectedMessage(error: TRPCError): string {
  const id = errorId(error);
  return error.code === 'INTERNAL_SERVER_ERROR'
    ? `Something went wrong on the server (error ${id}); the details are in its log`
    : `The request could not be read (error ${id}): send each input as superjson writes it, { "json": … }`;
}
