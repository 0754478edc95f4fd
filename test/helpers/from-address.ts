/**
 * HTTP clients that connect from a chosen loopback address (127.0.0.x), so a test can
 * play several client addresses against the per-address limits, from real sockets.
 */
import { request } from 'node:http';
import { createTRPCClient, httpLink } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter } from '@parley/sdk';

/** A `fetch` over `node:http` whose connections leave from `localAddress`. */
function fetchFrom(localAddress: string): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    return new Promise<Response>((resolve, reject) => {
      const req = request(url, { method: init?.method ?? 'GET', headers, localAddress, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === 'string') responseHeaders.set(name, value);
          }
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500, headers: responseHeaders }));
        });
      });
      req.on('error', reject);
      req.end(typeof init?.body === 'string' ? init.body : undefined);
    });
  };
}

/** A tRPC HTTP client for `baseUrl` whose requests come from `localAddress`. */
export function httpClientFrom(baseUrl: string, localAddress: string, token?: string) {
  return createTRPCClient<AppRouter>({
    links: [
      httpLink<AppRouter>({
        url: `${baseUrl}/trpc`,
        transformer: superjson,
        fetch: fetchFrom(localAddress),
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      }),
    ],
  });
}
