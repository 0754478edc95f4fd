import { describe, expect, it } from 'vitest';
import { startServer } from '../helpers/server.js';

describe('subscription transport', () => {
  it('refuses onMessage over HTTP (server-sent events), where no connection limit would apply', async () => {
    await using t = await startServer();
    const token = await t.token('alice');
    const input = encodeURIComponent(JSON.stringify({ json: {} }));
    const res = await fetch(`${t.url}/trpc/onMessage?input=${input}`, { headers: { authorization: `Bearer ${token}` } });
    // tRPC answers a refused subscription inside the event stream, which then ends.
    const body = await res.text();
    expect(body).toContain('event: serialized-error');
    expect(body).toContain('METHOD_NOT_SUPPORTED');
    expect(body).not.toContain('"seq"');
  });
});
