/**
 * @module descriptor-limit
 * The process's file-descriptor limit (`ulimit -n`), read once at start, so the server can
 * cap its connections below it and warn before accept starts failing with EMFILE.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Descriptors kept for everything but client connections: the store, Redis, logs, libuv. */
export const reservedDescriptors = 128;

export interface DescriptorLimit {
  /** The soft limit on open files, or null where it cannot be read (not Linux). */
  limit: number | null;
  /** Descriptors open at start (before any client connection), or 0 where unknown. */
  openAtStart: number;
}

export function readDescriptorLimit(): DescriptorLimit {
  try {
    const line = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    const limit = line === null || line[1] === 'unlimited' ? null : Number(line[1]);
    return { limit, openAtStart: readdirSync('/proc/self/fd').length };
  } catch {
    // No /proc (macOS, Windows): the configured cap is all there is.
    return { limit: null, openAtStart: 0 };
  }
}

/** PARLEY_MAX_CONNECTIONS when unset: what the descriptor limit leaves after the reserve. */
export function defaultMaxConnections({ limit }: DescriptorLimit): number {
  return limit === null ? 10_000 : Math.max(1, limit - reservedDescriptors);
}
