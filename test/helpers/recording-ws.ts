/**
 * A `ws` WebSocket class for the SDK that records every socket it opens and the close
 * code of each, so tests can see why a client reconnected or stopped.
 */
import WebSocket from 'ws';

export interface SocketRecord {
  opened: number;
  closeCodes: number[];
}

export function recordingWebSocket(): { WebSocket: typeof globalThis.WebSocket; record: SocketRecord } {
  const record: SocketRecord = { opened: 0, closeCodes: [] };
  class RecordingWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols);
      record.opened++;
      this.once('close', (code) => record.closeCodes.push(code));
    }
  }
  return { WebSocket: RecordingWebSocket as unknown as typeof globalThis.WebSocket, record };
}
