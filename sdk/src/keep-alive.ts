/**
 * @module keep-alive
 * Finds a connection that died without a close (a server or network gone, a laptop back
 * from sleep): every `intervalMs` it sends tRPC's `PING` on the open socket, and closes
 * the socket when nothing at all has arrived within `pongTimeoutMs`; the client then
 * reconnects and resumes. Browsers cannot see WebSocket ping frames, hence a message.
 *
 * tRPC's own keepAlive does the same with a listener on every message, which costs each
 * received message a second text decode and a new timer; this one listens only between
 * a ping and the first message after it.
 */

export interface KeepAliveOptions {
  /** How often the socket is probed (default 20 s). */
  intervalMs?: number;
  /** How long an answer may take before the socket counts as dead (default 10 s). */
  pongTimeoutMs?: number;
}

const open = 1;

export interface KeepAlive {
  /** Probes while the connection is open (idempotent). */
  start(): void;
  /** Stops probing, and drops a probe in progress (the socket closed, or the client did). */
  stop(): void;
}

/** Probes whatever socket `socket()` returns, between `start()` and `stop()`. */
export function createKeepAlive(socket: () => WebSocket | null, options: KeepAliveOptions = {}): KeepAlive {
  const intervalMs = options.intervalMs ?? 20_000;
  const pongTimeoutMs = options.pongTimeoutMs ?? 10_000;
  let interval: ReturnType<typeof setInterval> | undefined;
  let deadline: ReturnType<typeof setTimeout> | undefined;
  /** Set while a probe waits for its answer. */
  let answered: (() => void) | null = null;

  const probe = () => {
    const ws = socket();
    if (answered || !ws || ws.readyState !== open) return;
    const done = () => {
      ws.removeEventListener('message', done);
      clearTimeout(deadline);
      answered = null;
    };
    answered = done;
    ws.addEventListener('message', done);
    deadline = unref(
      setTimeout(() => {
        done();
        // A close handshake cannot complete on a dead connection: Node's `ws` can drop the
        // socket at once (then the client reconnects at once); a browser closes it itself.
        const dead = ws as WebSocket & { terminate?: () => void };
        if (dead.terminate) dead.terminate();
        else if (ws.readyState === open) ws.close();
      }, pongTimeoutMs),
    );
    ws.send('PING');
  };

  return {
    start() {
      interval ??= unref(setInterval(probe, intervalMs));
    },
    stop() {
      clearInterval(interval);
      interval = undefined;
      answered?.();
    },
  };
}

/** In Node, a probe timer alone does not keep the process alive (browsers have no unref). */
function unref<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}
