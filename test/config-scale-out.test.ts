import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../server/config.js';

describe('scale-out configuration', () => {
  it('keeps SQLite and the in-process bus unless PARLEY_DATABASE_URL and PARLEY_REDIS_URL are set', () => {
    const embedded = loadConfig({});
    expect([embedded.databaseUrl, embedded.redisUrl, embedded.redisPrefix]).toEqual([undefined, undefined, 'parley:']);
    const shared = loadConfig({
      PARLEY_DATABASE_URL: 'postgresql://parley:pw@db:5432/parley?options=-c%20search_path%3Dchat',
      PARLEY_REDIS_URL: 'rediss://:pw@redis:6380/0',
      PARLEY_REDIS_PREFIX: 'chat-prod:',
    });
    expect(shared.databaseUrl).toBe('postgresql://parley:pw@db:5432/parley?options=-c%20search_path%3Dchat');
    expect(shared.redisUrl).toBe('rediss://:pw@redis:6380/0');
    expect(shared.redisPrefix).toBe('chat-prod:');
  });

  it('refuses malformed URLs naming the variable, without echoing the value (it may hold a password)', () => {
    const load = () =>
      loadConfig({ PARLEY_DATABASE_URL: 'mysql://u:hunter2@db/x', PARLEY_REDIS_URL: 'http://u:hunter3@redis' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/PARLEY_DATABASE_URL: must be a postgres:\/\//);
    expect(load).toThrow(/PARLEY_REDIS_URL: must be a redis:\/\//);
    expect(load).not.toThrow(/hunter/);
  });

  it('refuses a Redis prefix that is not a plain channel-name fragment', () => {
    expect(() => loadConfig({ PARLEY_REDIS_PREFIX: 'has space' })).toThrow(/PARLEY_REDIS_PREFIX/);
    expect(() => loadConfig({ PARLEY_REDIS_PREFIX: '' })).toThrow(/PARLEY_REDIS_PREFIX/);
  });
});
