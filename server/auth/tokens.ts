/**
 * @module tokens
 * HS256 JWTs: `sub` is the user id, `exp` is required. The algorithm is pinned, so
 * `alg: none` and every other algorithm are refused.
 */
import { SignJWT, jwtVerify, errors } from 'jose';
import { userIdPattern } from './user-id.js';

export interface VerifiedToken {
  userId: string;
  /** Expiry, in milliseconds since the epoch. */
  expiresAt: number;
}

/** Why a token was refused; the text never contains the token itself. */
export class TokenError extends Error {
  override name = 'TokenError';
  constructor(
    message: string,
    /** True when the token was valid but is past its `exp`: a fresh one will do. */
    readonly expired = false,
  ) {
    super(message);
  }
}

export interface TokenService {
  sign(userId: string, ttlSeconds: number): Promise<{ token: string; expiresAt: Date }>;
  verify(token: string): Promise<VerifiedToken>;
}

export function createTokenService(secret: Uint8Array): TokenService {
  return {
    async sign(userId, ttlSeconds) {
      const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuedAt()
        .setExpirationTime(exp)
        .sign(secret);
      return { token, expiresAt: new Date(exp * 1000) };
    },

    async verify(token) {
      let payload;
      try {
        ({ payload } = await jwtVerify(token, secret, {
          algorithms: ['HS256'],
          requiredClaims: ['sub', 'exp'],
        }));
      } catch (error) {
        if (error instanceof errors.JWTExpired) throw new TokenError('The token has expired: sign in again', true);
        if (error instanceof errors.JOSEError) throw new TokenError('The token is not valid for this server');
        throw error;
      }
      const { sub, exp } = payload;
      if (typeof sub !== 'string' || !userIdPattern.test(sub) || typeof exp !== 'number') {
        throw new TokenError('The token does not name a valid user id');
      }
      return { userId: sub, expiresAt: exp * 1000 };
    },
  };
}
