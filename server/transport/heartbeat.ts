/**
 * @module heartbeat
 * Finds dead peers with WebSocket ping frames (browsers answer them by themselves, so
 * no client code is needed): a socket that has not answered the previous ping by the
 * next one is terminated, which releases its subscriptions and bus listeners.
 */
import type { WebSocket, WebSocketServer } from 'ws';

export function startHeartbeat(wss: WebSocketServer, intervalMs: number, onDeadPeer: () => void): () => void {
  const alive = new WeakSet<WebSocket>();
  const onConnection = (ws: WebSocket) => {
    alive.add(ws);
    ws.on('pong', () => alive.add(ws));
  };
  wss.on('connection', onConnection);
  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      // Sockets already closing (or refused before 'connection') are not peers to probe.
      if (ws.readyState !== ws.OPEN) continue;
      if (!alive.has(ws)) {
        onDeadPeer();
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    wss.off('connection', onConnection);
  };
}
