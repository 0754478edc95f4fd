/**
 * @module urls
 * The endpoints the SDK derives from the server's base URL.
 */
export function trpcUrls(baseUrl: string): { http: string; ws: string } {
  const url = new URL(baseUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`Parley: url must start with http:// or https:// (got "${url.protocol}")`);
  }
  const path = `${url.pathname.replace(/\/+$/, '')}/trpc`;
  const http = `${url.protocol}//${url.host}${path}`;
  const ws = `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}${path}`;
  return { http, ws };
}
