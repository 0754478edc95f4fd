import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../server/config.js';

describe('configuration of connection and request limits', () => {
  it('has defaults: cap from the descriptor limit, 10 s headers, 30 s request, 5 s idle, 64 KiB bodies, /metrics cached 1 s and open', () => {
    expect(loadConfig({})).toMatchObject({
      maxConnections: null,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      idleTimeoutMs: 5_000,
      maxBodyBytes: 65_536,
      trustProxy: [],
      serveSourceMaps: false,
      metricsMaxAgeMs: 1_000,
      metricsToken: undefined,
    });
  });

  it('reads each variable', () => {
    expect(
      loadConfig({
        PARLEY_MAX_CONNECTIONS: '5000',
        PARLEY_HEADERS_TIMEOUT: '2s',
        PARLEY_REQUEST_TIMEOUT: '5s',
        PARLEY_IDLE_TIMEOUT: '500ms',
        PARLEY_MAX_BODY: '2048',
        PARLEY_SERVE_SOURCE_MAPS: 'on',
        PARLEY_METRICS_MAX_AGE: '0ms',
        PARLEY_METRICS_TOKEN: 'a-long-enough-metrics-token',
      }),
    ).toMatchObject({
      maxConnections: 5000,
      headersTimeoutMs: 2000,
      requestTimeoutMs: 5000,
      idleTimeoutMs: 500,
      maxBodyBytes: 2048,
      serveSourceMaps: true,
      metricsMaxAgeMs: 0,
      metricsToken: 'a-long-enough-metrics-token',
    });
  });

  it('refuses bad values at start-up, naming the variable', () => {
    const bad: Record<string, string> = {
      PARLEY_MAX_CONNECTIONS: '0',
      PARLEY_HEADERS_TIMEOUT: 'soon',
      PARLEY_MAX_BODY: '10',
      PARLEY_SERVE_SOURCE_MAPS: 'yes',
      PARLEY_METRICS_TOKEN: 'short',
    };
    for (const [name, value] of Object.entries(bad)) {
      expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
      expect(() => loadConfig({ [name]: value })).toThrow(name);
    }
    // node:http refuses a headers deadline later than the request's.
    expect(() => loadConfig({ PARLEY_HEADERS_TIMEOUT: '40s', PARLEY_REQUEST_TIMEOUT: '30s' })).toThrow(
      /PARLEY_HEADERS_TIMEOUT: must not be longer than PARLEY_REQUEST_TIMEOUT/,
    );
  });
});
