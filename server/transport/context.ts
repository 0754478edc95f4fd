/**
 * @module context
 * Builds the tRPC context from a connection: the bearer token of an HTTP request, or
 * `connectionParams.token` of a WebSocket (checked once, when the socket opens).
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { AccountService } from '../auth/account-service.js';
import { TokenError } from '../auth/tokens.js';
import type { Context } from '../router/trpc.js';
import { closeCodes } from './close-codes.js';

const anonymous: Context = { userId: null, authError: null };

async function contextFromToken(
  accounts: AccountService,
  token: unknown,
): Promise<Context & { expiresAt?: number }> {
  if (token === undefined || token === null || token === '') return anonymous;
  if (typeof token !== 'string') return { userId: null, authError: 'The token must be a string' };
  try {
    const { userId, expiresAt } = await accounts.authenticate(token);
    return { userId, authError: null, expiresAt };
  } catch (error) {
    if (error instanceof TokenError) return { userId: null, authError: error.message };
    throw error;
  }
}

export function createHttpContextFactory(accounts: AccountService) {
  return async ({ req }: { req: IncomingMessage }): Promise<Context> => {
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (header && !match) return { userId: null, authError: 'The Authorization header must be "Bearer <token>"' };
    const { userId, authError } = await contextFromToken(accounts, match?.[1]);
    return { userId, authError };
  };
}

/** Longest delay `setTimeout` accepts; a later expiry is re-armed when it fires. */
const maxTimerMs = 2 ** 31 - 1;

export function createWsContextFactory(accounts: AccountService) {
  return async ({
    res,
    info,
  }: {
    res: WebSocket;
    info: { connectionParams: Record<string, string | undefined> | null };
  }): Promise<Context> => {
    const { userId, authError, expiresAt } = await contextFromToken(accounts, info.connectionParams?.token);
    if (expiresAt !== undefined) closeAtExpiry(res, expiresAt);
    return { userId, authError };
  };
}

/** The token is checked only at connect, so the socket must not outlive it. */
function closeAtExpiry(socket: WebSocket, expiresAt: number): void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const wait = expiresAt - Date.now();
    timer = setTimeout(
      () => (wait > maxTimerMs ? arm() : socket.close(closeCodes.tokenExpired, 'token expired')),
      Math.max(0, Math.min(wait, maxTimerMs)),
    );
  };
  arm();
  socket.once('close', () => clearTimeout(timer));
}
