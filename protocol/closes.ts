/**
 * @module closes
 * Every WebSocket close Parley sends, as one value each: its code and reason (on the
 * wire), the `reason` label of `parley_connection_closes_total`, and whether a client
 * reconnects after it (with a fresh token; the stream resumes from its last event id).
 * Shared by the server, the SDK and the demo, so the decision has one home. 1009 (message
 * too big) comes from `ws` itself when a frame exceeds `maxPayload`.
 */
export interface CloseValue {
  readonly code: number;
  readonly reason: string;
  readonly metric: string;
  readonly reconnect: boolean;
}

export const closes = {
  /** The token expired: fetch a new one and reconnect. */
  tokenExpired: { code: 4001, reason: 'token expired', metric: 'token_expired', reconnect: true },
  /** The client did not read fast enough and its send buffer passed the limit. */
  slowConsumer: { code: 4002, reason: 'slow consumer', metric: 'slow_consumer', reconnect: true },
  /** The server is shutting down or restarting. */
  shuttingDown: { code: 4003, reason: 'server shutting down', metric: 'shutting_down', reconnect: true },
  /** No `connectionParams` arrived in time after the upgrade. */
  authTimeout: { code: 4004, reason: 'no connectionParams in time', metric: 'auth_timeout', reconnect: true },
  /** The token was refused (bad signature, wrong algorithm, unknown format). */
  tokenRefused: { code: 4401, reason: 'token refused', metric: 'token_invalid', reconnect: false },
  /** Too many connections for this user. */
  userLimit: { code: 4408, reason: 'too many connections for this user', metric: 'user_limit', reconnect: false },
  /** Too many connections from this address. */
  ipLimit: { code: 4408, reason: 'too many connections from this address', metric: 'ip_limit', reconnect: false },
} as const satisfies Record<string, CloseValue>;

const noReconnectCodes: ReadonlySet<number> = new Set(
  Object.values(closes as Record<string, CloseValue>)
    .filter((value) => !value.reconnect)
    .map((value) => value.code),
);

/** Whether a client reconnects after a close with `code` (any code Parley does not send for good: network loss, restarts). */
export function reconnectsAfter(code: number): boolean {
  return !noReconnectCodes.has(code);
}
