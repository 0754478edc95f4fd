/**
 * @module context
 * Builds the tRPC context from a connection: the bearer token of an HTTP request, or
 * `connectionParams.token` of a WebSocket (checked once, when the socket opens).
 */
import type { IncomingMessage } from 'node:http';
import type { AccountService } from '../auth/account-service.js';
import { TokenError } from '../auth/tokens.js';
import type { Context } from '../router/trpc.js';
import { toTrpcError } from '../router/trpc.js';
import type { ClientAddress } from './client-address.js';

export interface TokenContext {
  userId: string | null;
  authError: string | null;
  /** Why the token was refused, when it was. */
  refusal: 'expired' | 'invalid' | null;
  expiresAt: number | null;
}

const anonymous: TokenContext = { userId: null, authError: null, refusal: null, expiresAt: null };

export async function contextFromToken(accounts: AccountService, token: unknown): Promise<TokenContext> {
  if (token === undefined || token === null || token === '') return anonymous;
  if (typeof token !== 'string') {
    return { userId: null, authError: 'The token must be a string', refusal: 'invalid', expiresAt: null };
  }
  try {
    const { userId, expiresAt } = await accounts.authenticate(token);
    return { userId, authError: null, refusal: null, expiresAt };
  } catch (error) {
    if (error instanceof TokenError) {
      return { userId: null, authError: error.message, refusal: error.expired ? 'expired' : 'invalid', expiresAt: null };
    }
    // Context errors bypass the procedures' middleware: mapped here (a store outage says "retry", not "bug").
    throw toTrpcError(error);
  }
}

export function createHttpContextFactory(accounts: AccountService, clientAddress: ClientAddress) {
  return async ({ req }: { req: IncomingMessage }): Promise<Context> => {
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    const base = { clientIp: clientAddress.of(req), connection: null };
    if (header && !match) {
      return { ...base, userId: null, authError: 'The Authorization header must be "Bearer <token>"' };
    }
    const { userId, authError } = await contextFromToken(accounts, match?.[1]);
    return { ...base, userId, authError };
  };
}
