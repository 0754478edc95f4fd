import { describe, expect, it, vi } from 'vitest';
import { startServer } from '../helpers/server.js';
import { collect } from '../helpers/collect.js';
import { parseExposition, scrape, valueOf } from '../helpers/metrics.js';

const expected = {
  parley_connections: 'gauge',
  parley_subscriptions: 'gauge',
  parley_messages_sent_total: 'counter',
  parley_messages_delivered_total: 'counter',
  parley_send_to_deliver_seconds: 'histogram',
  parley_rate_limited_total: 'counter',
  parley_connection_closes_total: 'counter',
  parley_store_errors_total: 'counter',
  parley_bus_errors_total: 'counter',
  parley_nodejs_eventloop_lag_seconds: 'gauge',
};

describe('GET /metrics', () => {
  it('is Prometheus text with HELP and TYPE for every metric Parley documents', async () => {
    await using t = await startServer();
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const exposition = parseExposition(await res.text());
    for (const [name, type] of Object.entries(expected)) {
      expect({ name, type: exposition.types.get(name) }).toEqual({ name, type });
      expect(exposition.help.get(name)).toMatch(/\S/);
    }
    expect([...exposition.types.keys()].filter((name) => !name.startsWith('parley_'))).toEqual([]);
  });

  it('rejects text that is not Prometheus exposition (the parser the other tests rely on can fail)', () => {
    expect(() => parseExposition('parley_x 1\n')).toThrow(/TYPE/);
    expect(() => parseExposition('# TYPE parley_x gauge\nparley_x one\n')).toThrow(/value/);
    expect(() => parseExposition('# TYPE parley_x gauge\nparley_x{a=b} 1\n')).toThrow(/labels/);
    expect(() => parseExposition('<html>\n')).toThrow(/not a Prometheus/);
  });

  it('counts messages sent and delivered, the delivery latency, connections and subscriptions as messages flow', async () => {
    await using t = await startServer();
    const before = await scrape(t.url);
    expect(valueOf(before, 'parley_messages_sent_total')).toBe(0);
    expect(valueOf(before, 'parley_connections')).toBe(0);

    const alice = await t.client('alice');
    const bob = await t.client('bob');
    const inbox = collect(bob);
    await vi.waitFor(async () => expect(valueOf(await scrape(t.url), 'parley_subscriptions')).toBe(1));
    for (const text of ['one', 'two', 'three']) await alice.sendToUser.mutate({ to: 'bob', text });
    await vi.waitFor(() => expect(inbox.messages).toHaveLength(3));

    const after = await scrape(t.url);
    expect(valueOf(after, 'parley_connections')).toBe(2);
    expect(valueOf(after, 'parley_messages_sent_total')).toBe(3);
    expect(valueOf(after, 'parley_messages_delivered_total')).toBe(3);
    expect(valueOf(after, 'parley_send_to_deliver_seconds_count')).toBe(3);
    expect(valueOf(after, 'parley_send_to_deliver_seconds_bucket', { le: '+Inf' })).toBe(3);
    expect(valueOf(after, 'parley_store_errors_total')).toBe(0);

    inbox.unsubscribe();
    await vi.waitFor(async () => expect(valueOf(await scrape(t.url), 'parley_subscriptions')).toBe(0));
  });
});
