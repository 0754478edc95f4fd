/**
 * @module static-files
 * Serves the built demo page (a few files, read once at start-up), with a strict CSP that
 * also forbids framing. Source maps are served only when asked for (PARLEY_SERVE_SOURCE_MAPS).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

/** A Host header fit to appear in a CSP source: a name or an address, and a port. */
const plainHost = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/**
 * The page talks only to its own origin: `'self'` covers same-origin ws: and wss: in
 * current browsers (CSP 3); the explicit ws(s) sources are for those that predate it.
 */
function contentSecurityPolicy(host: string | undefined): string {
  const connect = host !== undefined && plainHost.test(host) ? `'self' ws://${host} wss://${host}` : "'self'";
  return [
    "default-src 'self'",
    `connect-src ${connect}`,
    "img-src 'self' data:",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export interface StaticOptions {
  /** Also serve `*.map` (source maps show the demo's source to anyone who asks). */
  serveSourceMaps?: boolean;
}

/** Returns a handler for the files of `dir`, or null when the demo has not been built. */
export function createStaticHandler(dir: string, { serveSourceMaps = false }: StaticOptions = {}) {
  if (!existsSync(join(dir, 'index.html'))) return null;
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of readdirSync(dir)) {
    const type = contentTypes[extname(name)];
    if (type === undefined || (extname(name) === '.map' && !serveSourceMaps)) continue;
    files.set(`/${name}`, { body: readFileSync(join(dir, name)), type });
  }
  return (req: IncomingMessage, res: ServerResponse, pathname: string): boolean => {
    const file = files.get(pathname === '/' ? '/index.html' : pathname);
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    res.writeHead(200, {
      'content-type': file.type,
      'content-length': file.body.length,
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'content-security-policy': contentSecurityPolicy(req.headers.host),
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return true;
  };
}
