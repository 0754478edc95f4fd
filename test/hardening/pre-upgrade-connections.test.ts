/**
 * Connections before the upgrade (issue 11, item 2): idle and trickling TCP connections
 * from a few addresses must not use up the server's descriptors and lock everyone out.
 */
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { startServer } from '../helpers/server.js';
import { metric } from '../helpers/metrics.js';

interface RawTcp {
  socket: Socket;
  /** Everything the server sent. */
  received(): string;
  closed: Promise<void>;
  isClosed(): boolean;
}

const opened: Socket[] = [];

afterEach(() => {
  for (const socket of opened.splice(0)) socket.destroy();
});

/** A TCP connection from `localAddress` (any 127.0.0.x works on Linux loopback) that sends nothing by itself. */
function rawTcp(url: string, localAddress = '127.0.0.1'): Promise<RawTcp> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), localAddress });
  opened.push(socket);
  let data = '';
  let closedFlag = false;
  socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
  socket.on('error', () => {}); // a reset is one way the server closes it; 'close' follows
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closedFlag = true;
      resolve();
    }),
  );
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve({ socket, received: () => data, closed, isClosed: () => closedFlag }));
    socket.once('error', reject);
  });
}

/** Writes `text` one byte per `everyMs` until the socket closes or the text runs out. */
function trickle(connection: RawTcp, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (connection.isClosed() || i >= text.length) return clearInterval(timer);
    connection.socket.write(text[i++] as string);
  }, everyMs);
}

async function healthz(url: string): Promise<number> {
  return (await fetch(`${url}/healthz`)).status;
}

function capturedLog() {
  const lines: Array<{ msg: string; [key: string]: unknown }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as never);
      done();
    },
  });
  return { log: pino({ level: 'warn' }, stream), lines };
}

describe('connections before the upgrade', () => {
  it('does not let idle connections from several addresses lock a well-behaved user out of HTTP and WebSocket', async () => {
    // Four attackers hold 25 idle connections each, with room for only 6 per address;
    // the total cap is above what the per-address caps let them reach.
    await using t = await startServer({ maxConnectionsPerIp: 6, maxConnections: 60, idleTimeoutMs: 60_000 });
    const attackers = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
    const held = await Promise.all(
      attackers.flatMap((address) => Array.from({ length: 25 }, () => rawTcp(t.url, address))),
    );
    await vi.waitFor(() => expect(held.filter((c) => c.isClosed())).toHaveLength(4 * 19), { timeout: 5000 });
    expect(held.filter((c) => !c.isClosed())).toHaveLength(4 * 6);

    // The well-behaved user, from another address, gets through on both transports.
    expect(await healthz(t.url)).toBe(200);
    const alice = await t.client('alice');
    const bob = await t.http('bob');
    expect(await alice.me.query()).toEqual({ userId: 'alice' });
    expect(await bob.me.query()).toEqual({ userId: 'bob' });
    expect(await metric(t.url, 'parley_connection_closes_total', { reason: 'ip_limit_before_upgrade' })).toBe(4 * 19);

    // A closed connection frees its address's place.
    held.find((c) => !c.isClosed())?.socket.destroy();
    await vi.waitFor(async () => {
      const again = await rawTcp(t.url, '127.0.0.2');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(again.isClosed()).toBe(false);
    });
  });

  it('does not count WebSockets against the per-address cap on connections that have not upgraded', async () => {
    await using t = await startServer({ maxConnectionsPerIp: 2, idleTimeoutMs: 60_000 });
    const alice = await t.client('alice');
    const bob = await t.client('bob');
    // Two WebSockets from 127.0.0.1 are open, yet two idle raw connections still fit.
    const idle = await Promise.all([rawTcp(t.url), rawTcp(t.url)]);
    const third = await rawTcp(t.url);
    await third.closed;
    expect(idle.map((c) => c.isClosed())).toEqual([false, false]);
    expect([await alice.me.query(), await bob.me.query()]).toEqual([{ userId: 'alice' }, { userId: 'bob' }]);
  });

  it('closes idle and trickling connections by the idle, headers and request timeouts, and leaves upgraded WebSockets open', async () => {
    await using t = await startServer({ idleTimeoutMs: 300, headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const alice = await t.client('alice');

    const silent = await rawTcp(t.url);
    const trickledHeaders = await rawTcp(t.url);
    trickle(trickledHeaders, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200), 50);
    const trickledBody = await rawTcp(t.url);
    trickledBody.socket.write(
      'POST /trpc/auth.login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n',
    );
    trickle(trickledBody, 'x'.repeat(1000), 50);
    const keptAlive = await rawTcp(t.url);
    keptAlive.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');

    await Promise.all([silent.closed, trickledHeaders.closed, trickledBody.closed, keptAlive.closed]);
    expect(silent.received()).toBe('');
    expect(trickledHeaders.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(trickledBody.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(keptAlive.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(await metric(t.url, 'parley_connection_closes_total', { reason: 'idle_timeout' })).toBeGreaterThanOrEqual(2);

    // Longer than every timeout above: the WebSocket is untouched by them.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await alice.me.query()).toEqual({ userId: 'alice' });
    expect(alice.connectionState).toBe('connected');
  });

  it('drops connections over maxConnections at accept, warns once per burst, and accepts again once below it', async () => {
    const { log, lines } = capturedLog();
    await using t = await startServer({ maxConnections: 5, idleTimeoutMs: 60_000 }, { log });
    const held = await Promise.all(Array.from({ length: 5 }, () => rawTcp(t.url)));
    const extra = await Promise.all(Array.from({ length: 3 }, () => rawTcp(t.url, '127.0.0.2').catch(() => null)));
    for (const c of extra) await c?.closed;
    expect(held.map((c) => c.isClosed())).toEqual([false, false, false, false, false]);

    const warnings = (msg: string) => lines.filter((line) => line.msg.startsWith(msg));
    expect(warnings('connection dropped: at PARLEY_MAX_CONNECTIONS')).toHaveLength(1);
    // 90% of the cap is 4: the 4th and 5th connections were near it, in one burst.
    expect(warnings('near the connection limit')).toHaveLength(1);
    expect(warnings('near the connection limit')[0]).toMatchObject({ connections: 4, maxConnections: 5 });

    for (const c of held) c.socket.destroy();
    await vi.waitFor(async () => expect(await healthz(t.url)).toBe(200));
    // The three extra ones, and any probe above that came before the server saw the closes.
    expect(await metric(t.url, 'parley_connection_closes_total', { reason: 'connection_limit' })).toBeGreaterThanOrEqual(3);
  });
});
