/**
 * @module close-codes
 * WebSocket close codes Parley sends, and what a client should do on each:
 * 4000-4099 reconnect (with a fresh token), 4400-4499 stop and report.
 */
export const closeCodes = {
  /** The token expired: fetch a new one and reconnect; the stream resumes. */
  tokenExpired: 4001,
} as const;
