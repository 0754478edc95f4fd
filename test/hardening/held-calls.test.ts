import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../server/store/sqlite-store.js';
import { createLogger } from '../../server/log.js';
import { startServer, tempDir } from '../helpers/server.js';
import { isClose, openRaw } from '../helpers/raw-ws.js';

describe('calls sent while the token is checked', () => {
  it('are held a frame’s worth at a time: past that the socket is not read (TCP holds the rest back), and all are served once the token is checked', async () => {
    const dir = tempDir();
    const store = new SqliteStore(join(dir, 'parley.db'), createLogger('silent'));
    // The first socket of a user the server does not know yet waits for the store: held open here.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const ensureUser = store.ensureUser.bind(store);
    store.ensureUser = async (userId: string) => {
      await gate;
      return ensureUser(userId);
    };
    await using t = await startServer({ authTimeoutMs: 60_000 }, { store });
    const raw = await openRaw(t.url, { token: await t.token('fresh-user') });
    // 40 MiB of calls that get no reply (stops of unknown subscriptions), far more than
    // loopback socket buffers hold: before the bound, the server read and held all of them.
    const frame = Array.from({ length: 100 }, (_, i) => ({ id: i, method: 'subscription.stop', pad: 'x'.repeat(400) }));
    for (let f = 0; f < 1000; f++) raw.send(frame);
    // The server stops reading: what the client wrote stays in its own buffer, and stops
    // draining (it drained to 0 in well under a second when everything was read and held).
    let steady = 0;
    let last = -1;
    for (let i = 0; i < 100 && steady < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const buffered = raw.ws.bufferedAmount;
      expect(buffered, 'the server read everything the client sent').toBeGreaterThan(0);
      steady = buffered === last ? steady + 1 : 0;
      last = buffered;
    }
    expect(steady, 'the client’s buffer never stopped draining').toBe(20);
    open();
    // Served in order once the token is checked: the query sent last is answered.
    const reply = await raw.call('query', 'me');
    expect(isClose(reply) ? reply : reply.result?.data?.json).toEqual({ userId: 'fresh-user' });
    await raw.close();
  }, 60_000);
});
