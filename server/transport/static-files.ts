/**
 * @module static-files
 * Serves the built demo page (a few files, read once at start-up).
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

/** Returns a handler for the files of `dir`, or null when the demo has not been built. */
export function createStaticHandler(dir: string) {
  if (!existsSync(join(dir, 'index.html'))) return null;
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of readdirSync(dir)) {
    const type = contentTypes[extname(name)];
    if (type) files.set(`/${name}`, { body: readFileSync(join(dir, name)), type });
  }
  return (req: IncomingMessage, res: ServerResponse, pathname: string): boolean => {
    const file = files.get(pathname === '/' ? '/index.html' : pathname);
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    res.writeHead(200, {
      'content-type': file.type,
      'content-length': file.body.length,
      'x-content-type-options': 'nosniff',
      'content-security-policy':
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; object-src 'none'; base-uri 'none'",
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return true;
  };
}
