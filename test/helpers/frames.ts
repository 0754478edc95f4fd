/**
 * Waiting for and comparing the frames raw sockets (raw-ws.ts) received, for tests that
 * hold two servers' answers to the same calls side by side.
 */
import { within, type RawReply } from './raw-ws.js';

/** Resolves once `check` holds (polled), or rejects naming `what` after 5 s. */
export async function until(what: string, check: () => boolean): Promise<void> {
  await within(
    (async () => {
      while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    5000,
    what,
  );
}

/**
 * Frames as the client got them, by call id (replies to different calls may interleave
 * differently from run to run), with what differs between two runs (times, retry hints)
 * blanked.
 */
export function comparable(frames: unknown[]): Record<string, RawReply[]> {
  const byId: Record<string, unknown[]> = {};
  for (const frame of frames) (byId[String((frame as RawReply).id)] ??= []).push(frame);
  return JSON.parse(JSON.stringify(byId), (key, value: unknown) => {
    if (key === 'sentAt' || key === 'retryAfterMs') return '…';
    if (key === 'message' && typeof value === 'string') return value.replace(/\d+ (ms|s)$/, '… $1');
    return value;
  });
}
