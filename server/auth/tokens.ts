/**
 * @module tokens
 * HS256 JWTs: `sub` is the user id, `exp` is required, `nbf` and `iat` are honoured, and
 * `iss` / `aud` are checked when configured. The algorithm is pinned, so `alg: none` and
 * every other algorithm are refused. Signed with jose; verified without the thread pool.
 */
import { createSecretKey } from 'node:crypto';
import { SignJWT } from 'jose';
import { verifyHs256Jws } from './hs256-jws.js';
import { userIdPattern } from '../../protocol/user-id.js';

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
  /** Synchronous on purpose: see hs256-jws.ts. */
  verify(token: string): VerifiedToken;
}

/** What issued tokens carry and verified ones must carry; unset: not written, not checked. */
export interface TokenClaims {
  jwtIssuer: string | undefined;
  jwtAudience: string | undefined;
}

/** How far in the future an `iat` may be (clocks drift); further, and the token is refused. */
export const issuedAtLeewaySeconds = 60;

const notValid = 'The token is not valid for this server';

export function createTokenService(secret: Uint8Array, claims: TokenClaims): TokenService {
  const key = createSecretKey(secret);
  const { jwtIssuer: issuer, jwtAudience: audience } = claims;
  return {
    async sign(userId, ttlSeconds) {
      const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
      const jwt = new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuedAt()
        .setExpirationTime(exp);
      if (issuer !== undefined) jwt.setIssuer(issuer);
      if (audience !== undefined) jwt.setAudience(audience);
      return { token: await jwt.sign(secret), expiresAt: new Date(exp * 1000) };
    },

    verify(token) {
      const payload = verifyHs256Jws(token, key);
      if (payload === null) throw new TokenError(notValid);
      const { sub, exp, nbf, iat, iss, aud } = payload;
      const now = Math.floor(Date.now() / 1000);
      if (typeof exp !== 'number' || !isOptionalNumber(nbf) || !isOptionalNumber(iat)) throw new TokenError(notValid);
      if (issuer !== undefined && iss !== issuer) throw new TokenError(notValid);
      if (audience !== undefined && aud !== audience && !(Array.isArray(aud) && aud.includes(audience))) {
        throw new TokenError(notValid);
      }
      if (nbf !== undefined && nbf > now) throw new TokenError('The token is not valid yet (nbf)');
      if (iat !== undefined && iat > now + issuedAtLeewaySeconds) {
        throw new TokenError('The token was issued in the future (iat): check the clocks of the server and of the issuer');
      }
      if (exp <= now) throw new TokenError('The token has expired: sign in again', true);
      if (typeof sub !== 'string' || !userIdPattern.test(sub)) {
        throw new TokenError('The token does not name a valid user id');
      }
      return { userId: sub, expiresAt: exp * 1000 };
    },
  };
}

function isOptionalNumber(value: unknown): value is number | undefined {
  return value === undefined || typeof value === 'number';
}
