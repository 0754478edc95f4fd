import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../server/config.js';

function refusalOf(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

describe('configuration', () => {
  it.each([
    ['PARLEY_TOKEN_TTL', '0s', /PARLEY_TOKEN_TTL: must be at least 1m/],
    ['PARLEY_TOKEN_TTL', '30s', /PARLEY_TOKEN_TTL: must be at least 1m/],
    ['PARLEY_TOKEN_TTL', '366d', /PARLEY_TOKEN_TTL: must be at most 365d/],
    ['PARLEY_TOKEN_TTL', '99999999999999999999d', /PARLEY_TOKEN_TTL: must be at most 365d/],
    ['PARLEY_HEARTBEAT', '0ms', /PARLEY_HEARTBEAT: must be at least 1s/],
    ['PARLEY_HEARTBEAT', '999ms', /PARLEY_HEARTBEAT: must be at least 1s/],
    ['PARLEY_HEARTBEAT', '25d', /PARLEY_HEARTBEAT: must be at most 24d/],
    ['PARLEY_AUTH_TIMEOUT', '0s', /PARLEY_AUTH_TIMEOUT: must be at least 1s/],
    ['PARLEY_SHUTDOWN_GRACE', '30d', /PARLEY_SHUTDOWN_GRACE: must be at most 24d/],
    ['PARLEY_RATE_LIMIT', '0/s', /PARLEY_RATE_LIMIT: must not be zero: use "off"/],
    ['PARLEY_LOGIN_LIMIT', '0/min', /PARLEY_LOGIN_LIMIT: must not be zero: use "off"/],
    ['PARLEY_LOGIN_LIMIT', '00/s', /PARLEY_LOGIN_LIMIT: must not be zero: use "off"/],
    ['PARLEY_HEARTBEAT', 'abc', /PARLEY_HEARTBEAT: must look like 500ms/],
    ['PARLEY_SHUTDOWN_GRACE', '-1s', /PARLEY_SHUTDOWN_GRACE: must look like 500ms/],
    ['PARLEY_TOKEN_TTL', '5 min', /PARLEY_TOKEN_TTL: must look like 30m/],
    ['PARLEY_JWT_ISSUER', 'has space', /PARLEY_JWT_ISSUER: must be 1-256 characters without spaces/],
    ['PARLEY_JWT_AUDIENCE', '', /PARLEY_JWT_AUDIENCE: must be 1-256 characters without spaces/],
  ])('refuses nonsense at start-up, naming the variable: %s=%s', (name, value, message) => {
    expect(refusalOf({ [name]: value })).toMatch(message);
  });

  it('accepts the smallest sensible values, a shutdown grace of 0 (close at once), and off for the limits', () => {
    const config = loadConfig({
      PARLEY_TOKEN_TTL: '1m',
      PARLEY_HEARTBEAT: '1s',
      PARLEY_AUTH_TIMEOUT: '1000ms',
      PARLEY_SHUTDOWN_GRACE: '0s',
      PARLEY_RATE_LIMIT: 'off',
      PARLEY_LOGIN_LIMIT: 'off',
    });
    expect(config).toMatchObject({
      tokenTtlSeconds: 60,
      heartbeatMs: 1000,
      authTimeoutMs: 1000,
      shutdownGraceMs: 0,
      sendRateLimit: null,
      loginRateLimit: null,
    });
  });

  it('accepts a token lifetime of up to a year, whose expiry is a real date (a longer one made every sign-in fail)', () => {
    const { tokenTtlSeconds } = loadConfig({ PARLEY_TOKEN_TTL: '365d' });
    expect(tokenTtlSeconds).toBe(365 * 86400);
    expect(Number.isNaN(new Date(Date.now() + tokenTtlSeconds * 1000).getTime())).toBe(false);
  });

  it('keeps the documented defaults', () => {
    expect(loadConfig({})).toMatchObject({
      tokenTtlSeconds: 12 * 3600,
      heartbeatMs: 30_000,
      authTimeoutMs: 10_000,
      shutdownGraceMs: 10_000,
      sendRateLimit: { perSecond: 20, burst: 50 },
      loginRateLimit: { perSecond: 10 / 60, burst: 10 },
      jwtIssuer: undefined,
      jwtAudience: undefined,
    });
  });

  it('reads the token issuer and audience when set', () => {
    expect(loadConfig({ PARLEY_JWT_ISSUER: 'https://chat.example.com', PARLEY_JWT_AUDIENCE: 'parley' })).toMatchObject({
      jwtIssuer: 'https://chat.example.com',
      jwtAudience: 'parley',
    });
  });
});
