/**
 * A loopback TCP proxy whose clients can stop reading: while paused, nothing is read from
 * the server's side, so the server's writes pile up in its socket buffers exactly as they
 * do for a client that stopped reading (a frozen tab, a stalled phone). Nothing is dropped:
 * on `resume()` the client receives everything that was held, in order.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface PausingProxy {
  url: string;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startPausingProxy(targetUrl: string): Promise<PausingProxy> {
  const target = new URL(targetUrl);
  const upstreams = new Set<Socket>();
  const sockets = new Set<Socket>();
  let paused = false;
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    upstreams.add(upstream);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => {
        sockets.delete(s);
        upstreams.delete(s);
      });
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => paused || upstream.resume());
    upstream.on('end', () => client.end());
    if (paused) upstream.pause();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    pause() {
      paused = true;
      for (const upstream of upstreams) upstream.pause();
    },
    resume() {
      paused = false;
      for (const upstream of upstreams) upstream.resume();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
