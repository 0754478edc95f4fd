import { describe, expect, it } from 'vitest';
import { TRPCClientError } from '@parley/sdk';
import { startServer } from './helpers/server.js';

// sendToUser and ack skip the tRPC client's generic request path (sdk/src/direct-call.ts):
// they must behave as the generic path does.
describe('SDK per-message calls', () => {
  it('resolve with the procedure output and reject with a TRPCClientError carrying the code', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    const bob = await t.client('bob');
    const sent = await alice.sendToUser.mutate({ to: 'bob', text: 'hi', clientMsgId: 'c-1' });
    expect(sent).toMatchObject({ seq: 1, from: 'alice', to: 'bob', clientMsgId: 'c-1' });
    expect(sent.sentAt).toBeInstanceOf(Date);
    expect(await bob.ack.mutate({ upTo: 1 })).toEqual({ ackedSeq: 1 });

    const error = await alice.sendToUser.mutate({ to: 'ghost', text: 'boo' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect(error).toMatchObject({ data: { code: 'NOT_FOUND' } });
  });

  it('reject with an AbortError when their signal is aborted first, as the generic path does', async () => {
    await using t = await startServer();
    const alice = await t.client('alice');
    await t.client('bob');
    const error = await alice.sendToUser
      .mutate({ to: 'bob', text: 'hi' }, { signal: AbortSignal.abort() })
      .catch((e: unknown) => e);
    const generic = await alice.me.query(undefined, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect(generic).toBeInstanceOf(TRPCClientError);
    expect((error as TRPCClientError<never>).cause?.name).toBe('AbortError');
    expect((error as TRPCClientError<never>).cause?.name).toBe((generic as TRPCClientError<never>).cause?.name);
  });
});
