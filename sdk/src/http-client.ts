/**
 * @module http-client
 * `createParleyHttpClient`: queries and mutations over plain HTTP, for scripts that
 * need no socket. Without a `token`, only `auth.register` / `auth.login` are callable.
 */
import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter, TokenSource } from './types.js';
import { trpcUrls } from './urls.js';
import { parleyLink } from './links.js';
import { resolveToken } from './resolve-token.js';

export interface ParleyHttpClientOptions {
  url: string;
  token?: TokenSource;
}

export type ParleyHttpClient = TRPCClient<AppRouter>;

export function createParleyHttpClient(options: ParleyHttpClientOptions): ParleyHttpClient {
  const { token } = options;
  return createTRPCClient<AppRouter>({
    links: [
      parleyLink(),
      httpLink<AppRouter>({
        url: trpcUrls(options.url).http,
        transformer: superjson,
        headers: async () => (token === undefined ? {} : { authorization: `Bearer ${await resolveToken(token)}` }),
      }),
    ],
  });
}
