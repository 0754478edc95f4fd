/**
 * HTTP bodies are bounded (issue 11, item 4): a huge POST to /trpc/auth.login is refused
 * with 413 while it is being read, before any token or password is looked at, and the
 * server stops reading it, so its memory does not grow by the body's size.
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { TRPCClientError } from '@parley/sdk';
import { startServer } from '../helpers/server.js';

const MiB = 1024 * 1024;

interface Exchange {
  socket: Socket;
  /** Everything the server sent, once it closed the connection. */
  response: Promise<string>;
}

function open(url: string, head: string): Exchange {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  socket.on('error', () => {}); // writing into a connection the server closed; the response says why
  socket.write(head);
  let data = '';
  socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
  const response = new Promise<string>((resolve) => socket.once('close', () => resolve(data)));
  return { socket, response };
}

/** Writes `total` bytes of chunked body (respecting backpressure) until done or the connection closes; resolves with the bytes written. */
async function writeChunked(socket: Socket, total: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
  let written = 0;
  while (written < total && !socket.destroyed && socket.writable) {
    if (!socket.write(frame)) {
      await new Promise<void>((resolve) => {
        socket.once('drain', resolve);
        socket.once('close', resolve);
      });
    }
    written += chunk.length;
  }
  return written;
}

/** The error code of a tRPC error reply (its body may be chunked: the JSON is from the first { to the last }). */
function errorCode(response: string): unknown {
  const body = response.slice(response.indexOf('{'), response.lastIndexOf('}') + 1);
  return (JSON.parse(body) as { error: { json: { data: { code: string } } } }).error.json.data.code;
}

describe('HTTP request bodies', () => {
  it('refuses a Content-Length over PARLEY_MAX_BODY with 413 without reading the body, and closes the connection', async () => {
    await using t = await startServer({ maxBodyBytes: 64 * 1024 });
    const { response } = open(
      t.url,
      `POST /trpc/auth.login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${256 * MiB}\r\n\r\n{"json":`,
    );
    const text = await response;
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
    expect(errorCode(text)).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers 413 instead of "100 Continue" to a client that waits before sending a large body', async () => {
    await using t = await startServer({ maxBodyBytes: 64 * 1024 });
    const { response } = open(
      t.url,
      `POST /trpc/auth.login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${MiB}\r\nExpect: 100-continue\r\n\r\n`,
    );
    const text = await response;
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).not.toContain('100 Continue');
  });

  it('refuses a 256 MiB chunked POST to auth.login with 413 while reading it, stops reading, and does not grow by its size', async () => {
    await using t = await startServer({ maxBodyBytes: 64 * 1024 });
    const rssBefore = process.memoryUsage().rss;
    const { socket, response } = open(
      t.url,
      'POST /trpc/auth.login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    const written = await writeChunked(socket, 256 * MiB);
    const text = await response;
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
    expect(errorCode(text)).toBe('PAYLOAD_TOO_LARGE');
    // The server closed the connection long before the body's end: what the client got
    // into the socket is its send buffer and the server's receive buffer, not 256 MiB.
    expect(written).toBeLessThan(32 * MiB);
    // Generous: the server and this test share a process; the body alone would be 256 MiB.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * MiB);

    // The server is fine: a normal sign-up still works.
    const http = await t.http();
    await expect(http.auth.register.mutate({ userId: 'alice', password: 'correct horse battery' })).resolves.toMatchObject({
      token: expect.any(String),
    });
  });

  it('gives an SDK caller PAYLOAD_TOO_LARGE for a body over the limit, and serves bodies under it', async () => {
    await using t = await startServer({ maxBodyBytes: 4096 });
    const http = await t.http();
    const refused = await http.auth.login.mutate({ userId: 'alice', password: 'x'.repeat(5000) }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TRPCClientError);
    expect((refused as TRPCClientError<never>).data).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', httpStatus: 413 });
    await expect(http.auth.register.mutate({ userId: 'bob', password: 'correct horse battery' })).resolves.toMatchObject({
      token: expect.any(String),
    });
  });
});
