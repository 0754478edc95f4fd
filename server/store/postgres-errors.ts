/**
 * @module postgres-errors
 * Tells a PostgreSQL outage (refused, cut or slow connections, a server shutting down,
 * a statement timeout) from a request the database refused, so an outage reaches the
 * client as a retryable `StoreUnavailableError` and a bug stays a bug.
 */
import pg from 'pg';
import { StoreUnavailableError } from '../messages/errors.js';

/**
 * SQLSTATE classes worth retrying: 08 connection exception, 53 insufficient resources,
 * 57 operator intervention (includes 57014, a statement cancelled by its timeout),
 * 40 transaction rollback (serialization failure, deadlock).
 */
const retryableClasses = new Set(['08', '53', '57', '40']);

export function toStoreError(error: unknown): unknown {
  if (error instanceof pg.DatabaseError) {
    const sqlClass = error.code?.slice(0, 2);
    return sqlClass !== undefined && retryableClasses.has(sqlClass) ? new StoreUnavailableError({ cause: error }) : error;
  }
  // Anything else pg throws is about the connection: refused, reset, closed, timed out.
  if (error instanceof Error && (isSocketError(error) || isDriverConnectionError(error))) {
    return new StoreUnavailableError({ cause: error });
  }
  return error;
}

function isSocketError(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' && code.startsWith('E');
}

/** pg's own connection failures carry no code, only these messages (pg 8). */
const driverConnectionMessages = [
  'timeout exceeded when trying to connect',
  'timeout expired',
  'Connection terminated',
  'Query read timeout',
  'Client has encountered a connection error and is not queryable',
];

function isDriverConnectionError(error: Error): boolean {
  return driverConnectionMessages.some((text) => error.message.includes(text));
}
