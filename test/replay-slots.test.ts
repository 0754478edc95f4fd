import { describe, expect, it } from 'vitest';
import { ReplaySlots } from '../server/messages/replay-slots.js';

const never = new AbortController().signal;
/** Whether `promise` has settled once pending callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('replay slots (how many replays run at once)', () => {
  it('keep a user to their share without refusing anyone: the extra replay waits its turn, and other users go ahead', async () => {
    const slots = new ReplaySlots(3, 2);
    const a1 = await slots.acquire('a', never);
    const a2 = await slots.acquire('a', never);
    const a3 = slots.acquire('a', never);
    expect(await settled(a3)).toBe(false);
    const b1 = await slots.acquire('b', never);
    expect(b1).not.toBeNull();
    a1?.();
    expect(await a3).not.toBeNull();
    a2?.();
    b1?.();
  });

  it('keep the server to its limit, serving waiters in arrival order, and drop a waiter whose stream was stopped', async () => {
    const slots = new ReplaySlots(1, 1);
    const first = await slots.acquire('a', never);
    const stopped = new AbortController();
    const gone = slots.acquire('b', stopped.signal);
    const next = slots.acquire('c', never);
    const last = slots.acquire('d', never);
    stopped.abort();
    expect(await gone).toBeNull();
    expect(await settled(next)).toBe(false);
    first?.();
    first?.(); // a second release frees nothing more
    const c = await next;
    expect(c).not.toBeNull();
    expect(await settled(last)).toBe(false);
    c?.();
    expect(await last).not.toBeNull();
  });
});
