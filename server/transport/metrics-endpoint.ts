/**
 * @module metrics-endpoint
 * `GET /metrics`: rendered at most once per `maxAgeMs` (scrapes in between, and scrapes
 * that arrive while a render runs, share one), so a scraper hammering it costs the event
 * loop one render a second. With a token configured, only `Authorization: Bearer <token>`
 * may read it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export interface MetricsEndpointOptions {
  render: () => Promise<string>;
  /** Set: the bearer token a scrape must present. */
  token: string | undefined;
  /** A render this recent is served again (0: every scrape renders, concurrent ones still share). */
  maxAgeMs: number;
}

const digest = (text: string) => createHash('sha256').update(text).digest();

export function createMetricsEndpoint({ render, token, maxAgeMs }: MetricsEndpointOptions) {
  // Compared as digests: equal lengths for timingSafeEqual, and no early exit on a length mismatch.
  const expected = token === undefined ? null : digest(token);
  let cached: { text: string; at: number } | null = null;
  let rendering: Promise<string> | null = null;

  return {
    authorized(req: IncomingMessage): boolean {
      if (expected === null) return true;
      const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      return match !== null && timingSafeEqual(digest(match[1] as string), expected);
    },
    text(): Promise<string> {
      if (cached !== null && performance.now() - cached.at < maxAgeMs) return Promise.resolve(cached.text);
      rendering ??= render().then(
        (text) => {
          cached = { text, at: performance.now() };
          rendering = null;
          return text;
        },
        (error: unknown) => {
          rendering = null;
          throw error;
        },
      );
      return rendering;
    },
  };
}
