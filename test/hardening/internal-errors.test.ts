/**
 * What a client reads when a call fails for a reason that is not its input's content: a
 * generic message with an error id, never the engine's or a driver's text; the details go
 * to the log under the same id.
 */
import { describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, tempDir } from '../helpers/server.js';
import { isClose, openRaw, type RawReply } from '../helpers/raw-ws.js';
import { recordingLogger } from '../helpers/recording-log.js';
import type { Store } from '../../server/store/store.js';
import { SqliteStore } from '../../server/store/sqlite-store.js';

async function post(url: string, token: string, path: string, body: string) {
  const res = await fetch(`${url}/trpc/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body,
  });
  return { status: res.status, body: (await res.json()) as { error: { json: { message: string; data: { code: string } } } } };
}

/** A store whose conversations fail as a driver bug would, with text the client must not see. */
function failingConversations(store: Store): Store {
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key === 'conversations') return () => Promise.reject(new Error('driver detail: relation "secret_table" is broken'));
      const value: unknown = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('unexpected errors', () => {
  it('answers an input the server cannot read with BAD_REQUEST and a generic message, not the engine text', async () => {
    const { log, lines } = recordingLogger('debug');
    await using t = await startServer({}, { log });
    const token = await t.token('alice');
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    for (const body of ['null', `{"json":{"to":"bob","text":"hi"},"meta":{"values":{"text":${deep}}}}`]) {
      const { status, body: reply } = await post(t.url, token, 'sendToUser', body);
      expect(status).toBe(400);
      expect(reply.error.json.data.code).toBe('BAD_REQUEST');
      expect(reply.error.json.message).toMatch(/^The request could not be read \(error [0-9a-f]{12}\)/);
      expect(reply.error.json.message).not.toMatch(/destructure|call stack/);
      const id = /error ([0-9a-f]{12})/.exec(reply.error.json.message)?.[1];
      expect(lines.find((line) => line['errorId'] === id)).toMatchObject({ msg: 'request could not be read' });
    }
  });

  it('answers a server-side failure with INTERNAL_SERVER_ERROR and an error id, over HTTP and WebSocket, and logs the details under that id', async () => {
    const { log, lines } = recordingLogger();
    const dir = tempDir();
    try {
      const store = failingConversations(new SqliteStore(join(dir, 'parley.db'), log));
      await using t = await startServer({}, { log, store });
      const token = await t.token('alice');
      const overHttp = await fetch(`${t.url}/trpc/conversations`, { headers: { authorization: `Bearer ${token}` } });
      const httpError = ((await overHttp.json()) as { error: RawReply['error'] }).error;
      const ws = await openRaw(t.url, { token });
      const wsReply = await ws.call('query', 'conversations');
      await ws.close();
      for (const error of [httpError, isClose(wsReply) ? undefined : wsReply.error]) {
        expect(error?.json?.data?.code).toBe('INTERNAL_SERVER_ERROR');
        const message = error?.json?.message ?? '';
        expect(message).toMatch(/^Something went wrong on the server \(error [0-9a-f]{12}\)/);
        expect(message).not.toContain('secret_table');
        const id = /error ([0-9a-f]{12})/.exec(message)?.[1];
        expect(lines.find((line) => line['errorId'] === id)).toMatchObject({
          msg: 'procedure failed',
          path: 'conversations',
          err: { message: expect.stringContaining('secret_table') },
        });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
