/**
 * @module procedure-errors
 * How failed calls are logged, on both transports: a bug at error level with the id its
 * client was shown (unexpected-errors.ts); an input that could not be read at debug (the
 * client's doing, and a flood of them must not flood the log); the rest not at all (the
 * client got a code and a message it can act on).
 */
import type { TRPCError } from '@trpc/server';
import type { Logger } from '../log.js';
import { errorId, isUnexpected } from '../router/unexpected-errors.js';

export function logProcedureError(
  log: Logger,
  transport: 'http' | 'websocket',
  { error, path }: { error: TRPCError; path: string | undefined },
): void {
  if (!isUnexpected(error)) return;
  const details = { err: error.cause ?? error, errorId: errorId(error), path };
  // Without a path on a WebSocket it is the socket's own error (an oversize or malformed
  // frame): the client's doing as well.
  const socketError = transport === 'websocket' && path === undefined;
  if (error.code === 'INTERNAL_SERVER_ERROR' && !socketError) log.error(details, 'procedure failed');
  else log.debug(details, 'request could not be read');
}
