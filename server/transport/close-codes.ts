/**
 * @module close-codes
 * Every WebSocket close code Parley sends, and what a client does on each. Codes in
 * 4000-4099 mean "reconnect" (with a fresh token; the stream resumes from the last event
 * id); codes in 4400-4499 mean "stop and tell the user": reconnecting cannot help.
 * 1009 (message too big) comes from `ws` itself when a frame exceeds `maxPayload`.
 */
export const closeCodes = {
  /** The token expired: fetch a new one and reconnect. */
  tokenExpired: 4001,
  /** The client did not read fast enough and its send buffer passed the limit. */
  slowConsumer: 4002,
  /** The server is shutting down or restarting. */
  shuttingDown: 4003,
  /** No `connectionParams` arrived in time after the upgrade. */
  authTimeout: 4004,
  /** The token was refused (bad signature, wrong algorithm, unknown format). */
  authRefused: 4401,
  /** Too many connections for this user or from this address. */
  connectionLimit: 4408,
} as const;

export function isTerminal(code: number): boolean {
  return code >= 4400 && code < 4500;
}
