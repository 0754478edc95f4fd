/**
 * Response headers (issue 11, low items): API answers are never sniffed or cached; the
 * demo page cannot be framed and talks only to its own origin; source maps are served
 * only when asked for; /metrics is cached for a second and can require a token.
 */
import { createServer, request, type Server } from 'node:http';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startServer, tempDir } from '../helpers/server.js';
import { createStaticHandler } from '../../server/transport/static-files.js';
import { createMetricsEndpoint } from '../../server/transport/metrics-endpoint.js';

async function serveDemo(serveSourceMaps: boolean): Promise<{ url: string; close: () => Promise<void> }> {
  const dir = tempDir('parley-demo-');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="/app.js"></script>');
  writeFileSync(join(dir, 'app.js'), 'console.log(1);\n//# sourceMappingURL=app.js.map\n');
  writeFileSync(join(dir, 'app.js.map'), '{"version":3,"sources":["main.ts"],"mappings":""}');
  const handler = createStaticHandler(dir, { serveSourceMaps });
  if (handler === null) throw new Error('the demo dir has no index.html');
  const server: Server = createServer((req, res) => {
    if (!handler(req, res, new URL(req.url ?? '/', 'http://x').pathname)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('response headers', () => {
  it('marks every API response nosniff and no-store: /trpc, /healthz, /readyz, /metrics and 404s', async () => {
    await using t = await startServer();
    const token = await t.token('alice');
    const responses = {
      trpc: await fetch(`${t.url}/trpc/me`, { headers: { authorization: `Bearer ${token}` } }),
      trpcError: await fetch(`${t.url}/trpc/me`),
      healthz: await fetch(`${t.url}/healthz`),
      readyz: await fetch(`${t.url}/readyz`),
      metrics: await fetch(`${t.url}/metrics`),
      notFound: await fetch(`${t.url}/nothing-here`),
    };
    for (const [name, res] of Object.entries(responses)) {
      await res.arrayBuffer();
      expect({ name, nosniff: res.headers.get('x-content-type-options'), cache: res.headers.get('cache-control') }).toEqual({
        name,
        nosniff: 'nosniff',
        cache: 'no-store',
      });
    }
    expect([responses.trpc.status, responses.trpcError.status, responses.notFound.status]).toEqual([200, 401, 404]);
  });

  it('forbids framing the demo page and limits its connections to its own origin', async () => {
    const demo = await serveDemo(false);
    try {
      const res = await fetch(`${demo.url}/`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      const csp = (res.headers.get('content-security-policy') ?? '').split('; ');
      const host = new URL(demo.url).host;
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain(`connect-src 'self' ws://${host} wss://${host}`);
      expect(csp).toContain("default-src 'self'");
      // A Host header that is not a plain host[:port] is not copied into the policy.
      const odd = await new Promise<string>((resolve, reject) => {
        const req = request(`${demo.url}/`, { headers: { host: "evil; script-src 'unsafe-inline'" } }, (r) => {
          r.resume();
          resolve(String(r.headers['content-security-policy']));
        });
        req.on('error', reject);
        req.end();
      });
      expect(odd).toContain("connect-src 'self';");
      expect(odd).not.toContain('unsafe-inline');
    } finally {
      await demo.close();
    }
  });

  it('does not serve source maps unless PARLEY_SERVE_SOURCE_MAPS is on', async () => {
    const off = await serveDemo(false);
    const on = await serveDemo(true);
    try {
      expect((await fetch(`${off.url}/app.js`)).status).toBe(200);
      expect((await fetch(`${off.url}/app.js.map`)).status).toBe(404);
      const map = await fetch(`${on.url}/app.js.map`);
      expect(map.status).toBe(200);
      expect(await map.json()).toMatchObject({ version: 3 });
    } finally {
      await Promise.all([off.close(), on.close()]);
    }
  });
});

describe('GET /metrics under load and with a token', () => {
  it('renders once for scrapes within a second, including concurrent ones, and again after it', async () => {
    let renders = 0;
    let release = () => {};
    const endpoint = createMetricsEndpoint({
      render: () => {
        renders += 1;
        return new Promise((resolve) => (release = () => resolve(`render ${renders}\n`)));
      },
      token: undefined,
      maxAgeMs: 200,
    });
    const concurrent = Array.from({ length: 50 }, () => endpoint.text());
    release();
    expect(new Set(await Promise.all(concurrent))).toEqual(new Set(['render 1\n']));
    expect(await endpoint.text()).toBe('render 1\n');
    expect(renders).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const later = endpoint.text();
    release();
    expect(await later).toBe('render 2\n');
  });

  it('serves a scrape storm from the cache on a real server', async () => {
    await using t = await startServer({ metricsMaxAgeMs: 60_000 });
    const first = await (await fetch(`${t.url}/metrics`)).text();
    await (await t.client('alice')).me.query();
    // A new connection happened, but the cached render (within its age) is what scrapers get.
    const storm = await Promise.all(Array.from({ length: 20 }, async () => (await fetch(`${t.url}/metrics`)).text()));
    expect(new Set(storm)).toEqual(new Set([first]));
  });

  it('requires Authorization: Bearer <PARLEY_METRICS_TOKEN> when the token is set', async () => {
    const token = 'metrics-token-0123456789abcdef';
    await using t = await startServer({ metricsToken: token });
    const scrape = (authorization?: string) =>
      fetch(`${t.url}/metrics`, authorization === undefined ? {} : { headers: { authorization } });
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${token}x`, `Basic ${token}`, token]) {
      const res = await scrape(authorization);
      expect({ authorization, status: res.status }).toEqual({ authorization, status: 401 });
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(await res.text()).not.toContain('parley_connections');
    }
    const ok = await scrape(`Bearer ${token}`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('# TYPE parley_connections gauge');
  });
});
