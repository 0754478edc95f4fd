import { describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { createTokenService, issuedAtLeewaySeconds, TokenError } from '../server/auth/tokens.js';

const secretText = 'unit-test-secret-that-is-long-enough-for-hs256';
const secret = new TextEncoder().encode(secretText);
const noClaims = { jwtIssuer: undefined, jwtAudience: undefined };
const now = () => Math.floor(Date.now() / 1000);

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A compact JWS with any header and payload, HMAC-SHA256-signed with `key`. */
function handSigned(header: unknown, payload: unknown, key = secretText): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

const valid = () => ({ sub: 'alice', exp: now() + 3600 });

function refusal(verify: () => unknown): TokenError {
  try {
    verify();
  } catch (error) {
    if (error instanceof TokenError) return error;
    throw error;
  }
  throw new Error('the token was accepted');
}

describe('token verification without the thread pool', () => {
  const tokens = createTokenService(secret, noClaims);

  it('accepts what it signed, synchronously', async () => {
    const { token, expiresAt } = await tokens.sign('alice', 600);
    const verified = tokens.verify(token);
    expect(verified).toEqual({ userId: 'alice', expiresAt: expiresAt.getTime() });
    expect(tokens.verify(handSigned({ alg: 'HS256' }, valid())).userId).toBe('alice');
  });

  const forged: Array<[string, () => string | Promise<string>]> = [
    ['an alg: none token', () => new UnsecuredJWT({}).setSubject('alice').setExpirationTime('1h').encode()],
    ['alg: none with the HMAC signature kept', () => handSigned({ alg: 'none' }, valid())],
    [
      'an HS384 token signed with the same secret',
      () => new SignJWT({}).setProtectedHeader({ alg: 'HS384' }).setSubject('alice').setExpirationTime('1h').sign(secret),
    ],
    ['a header without alg', () => handSigned({ typ: 'JWT' }, valid())],
    ['a token signed with another secret', () => handSigned({ alg: 'HS256' }, valid(), `${secretText}-other`)],
    [
      'a tampered payload',
      () => {
        const [h, , s] = handSigned({ alg: 'HS256' }, valid()).split('.');
        return `${h}.${b64({ ...valid(), sub: 'mallory' })}.${s}`;
      },
    ],
    [
      'a tampered signature',
      () => {
        const token = handSigned({ alg: 'HS256' }, valid());
        return token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1);
      },
    ],
    [
      'a signature in another encoding of the same bytes (padding, standard base64)',
      () => {
        const [h, p, s = ''] = handSigned({ alg: 'HS256' }, valid()).split('.');
        return `${h}.${p}.${Buffer.from(s, 'base64url').toString('base64')}`;
      },
    ],
    ['a crit header', () => handSigned({ alg: 'HS256', crit: ['exp'], exp: 1 }, valid())],
    ['crit: b64 with an unencoded payload', () => handSigned({ alg: 'HS256', crit: ['b64'], b64: false }, valid())],
    ['b64: false without crit', () => handSigned({ alg: 'HS256', b64: false }, valid())],
    [
      'a header segment with characters outside base64url',
      () => {
        const [h, p, s] = handSigned({ alg: 'HS256' }, valid()).split('.');
        return `${h}*.${p}.${s}`;
      },
    ],
    ['a payload that is not a JSON object', () => handSigned({ alg: 'HS256' }, ['alice'])],
    ['a header that is not a JSON object', () => handSigned('HS256', valid())],
    ['four segments', () => `${handSigned({ alg: 'HS256' }, valid())}.x`],
    ['garbage', () => 'not.a.jwt'],
    ['a token without exp', () => handSigned({ alg: 'HS256' }, { sub: 'alice' })],
    ['an exp that is not a number', () => handSigned({ alg: 'HS256' }, { sub: 'alice', exp: String(now() + 60) })],
    ['an nbf that is not a number', () => handSigned({ alg: 'HS256' }, { ...valid(), nbf: 'soon' })],
  ];

  for (const [name, make] of forged) {
    it(`refuses ${name} as not valid for this server`, async () => {
      const token = await make();
      const error = refusal(() => tokens.verify(token));
      expect(error.message).toBe('The token is not valid for this server');
      expect(error.expired).toBe(false);
    });
  }

  it('refuses a token without sub, or naming an invalid user id', () => {
    for (const sub of [undefined, 42, 'not a user id!']) {
      expect(refusal(() => tokens.verify(handSigned({ alg: 'HS256' }, { ...valid(), sub }))).message).toBe(
        'The token does not name a valid user id',
      );
    }
  });

  it('refuses an expired token as expired (a fresh token will do), from the second of its exp on', () => {
    for (const exp of [now() - 10, now()]) {
      const error = refusal(() => tokens.verify(handSigned({ alg: 'HS256' }, { sub: 'alice', exp })));
      expect(error).toMatchObject({ expired: true, message: 'The token has expired: sign in again' });
    }
  });

  it('refuses a token whose nbf is in the future', () => {
    const error = refusal(() => tokens.verify(handSigned({ alg: 'HS256' }, { ...valid(), nbf: now() + 30 })));
    expect(error).toMatchObject({ expired: false, message: 'The token is not valid yet (nbf)' });
    expect(tokens.verify(handSigned({ alg: 'HS256' }, { ...valid(), nbf: now() })).userId).toBe('alice');
  });

  it('refuses a token issued in the future beyond the leeway, and accepts one within it (clock drift)', () => {
    const far = handSigned({ alg: 'HS256' }, { ...valid(), iat: now() + issuedAtLeewaySeconds + 5 });
    expect(refusal(() => tokens.verify(far)).message).toMatch(/^The token was issued in the future \(iat\)/);
    const near = handSigned({ alg: 'HS256' }, { ...valid(), iat: now() + issuedAtLeewaySeconds - 5 });
    expect(tokens.verify(near).userId).toBe('alice');
    expect(refusal(() => tokens.verify(handSigned({ alg: 'HS256' }, { ...valid(), iat: 'now' }))).message).toBe(
      'The token is not valid for this server',
    );
  });
});

describe('token issuer and audience, when configured', () => {
  const claims = { jwtIssuer: 'https://chat.example.com', jwtAudience: 'parley' };
  const tokens = createTokenService(secret, claims);

  it('signs tokens with iss and aud and accepts them', async () => {
    const { token } = await tokens.sign('alice', 600);
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
    expect(payload).toMatchObject({ sub: 'alice', iss: claims.jwtIssuer, aud: claims.jwtAudience });
    expect(tokens.verify(token).userId).toBe('alice');
    expect(tokens.verify(handSigned({ alg: 'HS256' }, { ...valid(), iss: claims.jwtIssuer, aud: ['other', 'parley'] })).userId).toBe(
      'alice',
    );
  });

  it('refuses a token without them, or with other values', async () => {
    const unconfigured = await createTokenService(secret, noClaims).sign('alice', 600);
    for (const token of [
      unconfigured.token,
      handSigned({ alg: 'HS256' }, { ...valid(), iss: claims.jwtIssuer }),
      handSigned({ alg: 'HS256' }, { ...valid(), aud: claims.jwtAudience }),
      handSigned({ alg: 'HS256' }, { ...valid(), iss: 'https://evil.example.com', aud: claims.jwtAudience }),
      handSigned({ alg: 'HS256' }, { ...valid(), iss: claims.jwtIssuer, aud: ['other'] }),
    ]) {
      expect(refusal(() => tokens.verify(token)).message).toBe('The token is not valid for this server');
    }
  });
});
