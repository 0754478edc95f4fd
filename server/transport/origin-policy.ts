/**
 * @module origin-policy
 * Which browser origins may open a WebSocket. Browsers always send `Origin` on a
 * WebSocket handshake; other clients usually send none and are judged by their token.
 */
export type OriginCheck = (origin: string | undefined, host: string | undefined) => boolean;

function normalize(origin: string): string | null {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin.toLowerCase() : null;
  } catch {
    return null;
  }
}

/**
 * `allowed`: exact origins (scheme, host and port; compared case-insensitively). With
 * none configured, only the server's own origin (the request's Host) is allowed.
 */
export function createOriginCheck(allowed: readonly string[]): OriginCheck {
  const allowedSet = new Set(allowed.map((o) => normalize(o)).filter((o): o is string => o !== null));
  return (origin, host) => {
    if (origin === undefined) return true;
    const normalized = normalize(origin);
    if (normalized === null) return false;
    if (allowedSet.size > 0) return allowedSet.has(normalized);
    return host !== undefined && new URL(normalized).host === host.toLowerCase();
  };
}
