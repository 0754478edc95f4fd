/**
 * @module backpressure
 * Lets a subscription wait for a socket to take what it already has before producing
 * more: a replay of thousands of stored messages then goes at the client's pace instead
 * of piling up in the server's memory (and tripping the slow-consumer limit). A client
 * that takes nothing for `timeoutMs` is a slow consumer: `onStalled` closes it.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

export type Backpressure = () => Promise<void> | null;

export function createBackpressure(
  ws: WebSocket,
  socket: Duplex,
  lowWaterBytes: number,
  timeoutMs: number,
  onStalled: () => void,
): Backpressure {
  return () => {
    // 'drain' only comes after a write the socket refused (writableNeedDrain).
    if (ws.bufferedAmount < lowWaterBytes || ws.readyState !== ws.OPEN || !socket.writableNeedDrain) return null;
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        socket.off('drain', done);
        ws.off('close', done);
        resolve();
      };
      const timer = setTimeout(() => {
        onStalled();
        done();
      }, timeoutMs);
      socket.on('drain', done);
      ws.on('close', done);
    });
  };
}
