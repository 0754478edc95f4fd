/**
 * @module burst-log
 * A warning that may fire thousands of times a second (every refused connection) logs one
 * line per burst: the first occurrence, then at most one line per interval, which says
 * how many occurrences it stands for.
 */
import type { Logger } from '../log.js';

export function burstWarning(log: Logger, message: string, intervalMs = 10_000) {
  let lastLoggedAt = -Infinity;
  let unlogged = 0;
  return (fields: Record<string, unknown> = {}): void => {
    unlogged += 1;
    const now = performance.now();
    if (now - lastLoggedAt < intervalMs) return;
    log.warn({ ...fields, occurrences: unlogged }, message);
    lastLoggedAt = now;
    unlogged = 0;
  };
}
