/**
 * The `Bus` contract (server/bus/bus.ts), as tests every implementation must pass.
 * `peer` is the bus of another node on the same network (the same bus when there is only
 * one process); messages are published there and must reach listeners here.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Bus, BusEvent } from '../../server/bus/bus.js';
import type { Message } from '../../server/messages/message.js';

/** Delivery is what these assert, not its speed: a loaded CI machine may take seconds. */
const eventually = <T>(check: () => T | Promise<T>) => vi.waitFor(check, { timeout: 10_000 });

export interface BusHarness {
  bus: Bus;
  peer: Bus;
  /** Cuts `bus`'s connection to the shared medium; absent for in-process buses. */
  dropConnections?: () => Promise<void>;
  dispose(): Promise<void>;
}

export interface BusContractOptions {
  /**
   * The bus subscribes remotely: a new listener hears `resync` once it is live, and
   * only messages published after that are sure to reach it.
   */
  announcesLive: boolean;
}

export interface Listening {
  events: BusEvent[];
  messages(): Message[];
  resyncs(): number;
  /** Resolves once messages published from now on reach this listener. */
  live: Promise<void>;
  unsubscribe(): void;
}

let nextId = 1;

export function message(to: string, text: string, from = 'alice'): Message {
  const id = nextId++;
  return { id: String(id), seq: id, from, to, text, clientMsgId: `c${id}`, sentAt: new Date(1_700_000_000_000 + id) };
}

export function describeBusContract(name: string, options: BusContractOptions, open: () => Promise<BusHarness>): void {
  describe(`${name} (Bus contract)`, () => {
    let harness: BusHarness;
    const listeners: Listening[] = [];
    beforeEach(async () => {
      harness = await open();
    });
    afterEach(async () => {
      for (const l of listeners.splice(0)) l.unsubscribe();
      await harness.dispose();
    });

    function listen(userId: string, bus = harness.bus): Listening {
      const events: BusEvent[] = [];
      let markLive = () => {};
      const live = options.announcesLive ? new Promise<void>((resolve) => (markLive = resolve)) : Promise.resolve();
      const unsubscribe = bus.subscribe(userId, (event) => {
        events.push(event);
        if (event.kind === 'resync') markLive();
      });
      const listening: Listening = {
        events,
        messages: () => events.flatMap((e) => (e.kind === 'message' ? [e.message] : [])),
        resyncs: () => events.filter((e) => e.kind === 'resync').length,
        live,
        unsubscribe,
      };
      listeners.push(listening);
      return listening;
    }

    it('delivers a published message to its recipient’s listener, sentAt still a Date', async () => {
      const bob = listen('bob');
      await bob.live;
      const sent = message('bob', 'hi');
      await harness.peer.publish(sent);
      await eventually(() => expect(bob.messages()).toEqual([sent]));
      expect(bob.messages()[0]?.sentAt).toBeInstanceOf(Date);
    });

    it('delivers a message only to its recipient, and to every listener of that recipient', async () => {
      const bob1 = listen('bob');
      const bob2 = listen('bob');
      const alice = listen('alice');
      const bobby = listen('bobby');
      await Promise.all([bob1.live, bob2.live, alice.live, bobby.live]);
      const sent = message('bob', 'for bob only');
      await harness.peer.publish(sent);
      await eventually(() => {
        expect(bob1.messages()).toEqual([sent]);
        expect(bob2.messages()).toEqual([sent]);
      });
      // A marker for alice and bobby, published after bob's: once it arrives, bob's has passed them by.
      const marker = message('alice', 'marker');
      await harness.peer.publish(marker);
      await harness.peer.publish({ ...marker, to: 'bobby' });
      await eventually(() => expect(bobby.messages()).toHaveLength(1));
      await eventually(() => expect(alice.messages()).toEqual([marker]));
      expect(bobby.messages().map((m) => m.text)).toEqual(['marker']);
    });

    it('keeps the order of messages from one publisher', async () => {
      const bob = listen('bob');
      await bob.live;
      const sent = Array.from({ length: 50 }, (_, i) => message('bob', `m${i}`));
      for (const m of sent) await harness.peer.publish(m);
      await eventually(() => expect(bob.messages()).toEqual(sent));
    });

    it('stops delivering to a listener once it unsubscribes, while the user’s other listeners go on', async () => {
      const leaving = listen('bob');
      const staying = listen('bob');
      await Promise.all([leaving.live, staying.live]);
      const first = message('bob', 'first');
      await harness.peer.publish(first);
      await eventually(() => expect(leaving.messages()).toEqual([first]));
      leaving.unsubscribe();
      leaving.unsubscribe(); // a second call is harmless
      const second = message('bob', 'second');
      await harness.peer.publish(second);
      await eventually(() => expect(staying.messages()).toEqual([first, second]));
      expect(leaving.messages()).toEqual([first]);
    });

    it('delivers again to a user whose listeners all left and who subscribes anew', async () => {
      const before = listen('bob');
      await before.live;
      before.unsubscribe();
      const after = listen('bob');
      await after.live;
      const sent = message('bob', 'again');
      await harness.peer.publish(sent);
      await eventually(() => expect(after.messages()).toEqual([sent]));
      expect(before.messages()).toEqual([]);
    });

    it('answers ping once connected', async () => {
      await eventually(() => harness.bus.ping());
      await eventually(() => harness.peer.ping());
    });

    it.skipIf(!options.announcesLive)(
      'tells every listener to resync after its connection was dropped, then delivers again',
      async () => {
        const bob = listen('bob');
        const carol = listen('carol');
        await Promise.all([bob.live, carol.live]);
        const [bobBefore, carolBefore] = [bob.resyncs(), carol.resyncs()];
        await harness.dropConnections?.();
        await eventually(() => {
          expect(bob.resyncs()).toBeGreaterThan(bobBefore);
          expect(carol.resyncs()).toBeGreaterThan(carolBefore);
        });
        const sent = message('bob', 'after the drop');
        await harness.peer.publish(sent);
        await eventually(() => expect(bob.messages()).toEqual([sent]));
      },
    );
  });
}
