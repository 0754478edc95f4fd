/**
 * @module backoff
 * Reconnect and retry delays with jitter, so a restarted server is not hit by every
 * client at the same instant.
 */
export function backoffDelay(attempt: number, { baseMs = 250, maxMs = 10_000 } = {}): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
