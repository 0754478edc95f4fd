/**
 * @module redis-bus
 * The cross-node `Bus` on Redis pub/sub. Each user has a channel; a node subscribes to it
 * while it holds at least one listener of that user, over one subscriber connection, and
 * publishes over a second one (a subscribed connection cannot publish).
 *
 * Redis pub/sub forgets whatever it could not deliver, so this bus tells its listeners
 * when they may have missed something, and they re-read the store:
 * - a subscription sends `resync` once Redis confirms it, covering what was published
 *   between the listener's first read of the store and that moment;
 * - after the subscriber connection comes back, every listener gets `resync`;
 * - when a publish fails, every node is told to resync once Redis answers again.
 */
import { Redis, type RedisOptions } from 'ioredis';
import superjson from 'superjson';
import type { Bus, BusEvent, BusListener } from './bus.js';
import type { Message } from '../messages/message.js';
import type { Logger } from '../log.js';

export interface RedisBusOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  url: string;
  /**
   * Starts every channel and connection name. Pub/sub channels are shared by all
   * databases of a Redis server, so deployments sharing one need different prefixes.
   */
  prefix: string;
  log: Logger;
  /** Longest wait for a Redis reply (default 2 s). */
  commandTimeoutMs?: number;
}

interface UserChannel {
  listeners: Set<BusListener>;
  /** Redis has confirmed the subscription on the current connection. */
  live: boolean;
}

/** Channels per SUBSCRIBE command when resubscribing many users at once. */
const subscribeBatch = 500;

const resync: BusEvent = { kind: 'resync' };

export class RedisBus implements Bus {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #log: Logger;
  readonly #userPrefix: string;
  readonly #resyncChannel: string;
  readonly #channels = new Map<string, UserChannel>();
  /** A publish failed: every node must re-read the store once the publisher is back. */
  #publishLost = false;

  constructor(options: RedisBusOptions) {
    this.#log = options.log;
    this.#userPrefix = `${options.prefix}user:`;
    this.#resyncChannel = `${options.prefix}resync`;
    const common: RedisOptions = {
      commandTimeout: options.commandTimeoutMs ?? 2000,
      // Fail at once while disconnected instead of queueing: a send must not wait on the
      // bus, and subscriptions are redone by the 'ready' handler anyway.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
    };
    this.#pub = new Redis(options.url, { ...common, connectionName: `${options.prefix}pub` });
    this.#sub = new Redis(options.url, {
      ...common,
      connectionName: `${options.prefix}sub`,
      // Resubscribing is ours to do, so that listeners hear `resync` only once the
      // subscriptions are really back.
      autoResubscribe: false,
      // RESP2 makes this a classic pub/sub client: Redis applies its pubsub output
      // buffer limit to it, and operators see it as `TYPE pubsub`.
      protocol: 2,
    });

    for (const [role, connection] of [['publisher', this.#pub], ['subscriber', this.#sub]] as const) {
      connection.on('error', (err: Error) => this.#log.warn({ err, role }, 'Redis bus connection failed'));
    }
    this.#sub.on('close', () => {
      for (const channel of this.#channels.values()) channel.live = false;
    });
    this.#sub.on('ready', () => this.#subscribeAll());
    this.#sub.on('message', (channel: string, payload: string) => this.#dispatch(channel, payload));
    this.#pub.on('ready', () => {
      if (this.#publishLost) void this.#announceResync();
    });
  }

  async publish(message: Message): Promise<void> {
    try {
      await this.#pub.publish(this.#userPrefix + message.to, superjson.stringify(message));
    } catch (err) {
      // The message is stored; only its doorbell is lost. Do not fail the send (a retry
      // would find the message stored and announce nothing): tell every node to resync.
      // Logged once per outage, not once per message.
      if (!this.#publishLost) this.#log.warn({ err }, 'Redis bus publish failed; every node will resync once Redis answers');
      this.#publishLost = true;
      return;
    }
    if (this.#publishLost) void this.#announceResync();
  }

  subscribe(userId: string, listener: BusListener): () => void {
    let channel = this.#channels.get(userId);
    if (!channel) {
      channel = { listeners: new Set(), live: false };
      this.#channels.set(userId, channel);
      if (this.#sub.status === 'ready') this.#subscribeChannels([userId]);
    }
    channel.listeners.add(listener);
    return () => {
      const current = this.#channels.get(userId);
      if (!current?.listeners.delete(listener) || current.listeners.size > 0) return;
      this.#channels.delete(userId);
      if (this.#sub.status === 'ready') {
        this.#sub.unsubscribe(this.#userPrefix + userId).catch((err: unknown) => {
          this.#log.warn({ err, userId }, 'Redis bus unsubscribe failed');
        });
      }
    };
  }

  async ping(): Promise<void> {
    await Promise.all([this.#pub.ping(), this.#sub.ping()]);
  }

  async close(): Promise<void> {
    this.#channels.clear();
    this.#sub.disconnect();
    this.#pub.disconnect();
  }

  #subscribeAll(): void {
    this.#sub.subscribe(this.#resyncChannel).catch((err: unknown) => {
      this.#log.warn({ err }, 'Redis bus could not subscribe to resync announcements');
    });
    const userIds = [...this.#channels.keys()];
    if (userIds.length > 0) this.#log.info({ users: userIds.length }, 'Redis bus subscribed again; resyncing');
    for (let i = 0; i < userIds.length; i += subscribeBatch) {
      this.#subscribeChannels(userIds.slice(i, i + subscribeBatch));
    }
  }

  /** Subscribes, then tells the listeners to re-read what they may have missed until now. */
  #subscribeChannels(userIds: string[]): void {
    const pending = userIds.map((userId) => [userId, this.#channels.get(userId)] as const);
    this.#sub.subscribe(...userIds.map((userId) => this.#userPrefix + userId)).then(
      () => {
        for (const [userId, channel] of pending) {
          // Skip channels whose last listener left (or that resubscribed) meanwhile.
          if (!channel || channel.live || this.#channels.get(userId) !== channel) continue;
          channel.live = true;
          for (const listener of channel.listeners) listener(resync);
        }
      },
      // The connection dropped under the command; its 'ready' handler subscribes again.
      (err: unknown) => this.#log.warn({ err, users: userIds.length }, 'Redis bus subscribe failed'),
    );
  }

  #dispatch(channelName: string, payload: string): void {
    if (channelName === this.#resyncChannel) {
      for (const channel of this.#channels.values()) {
        for (const listener of channel.listeners) listener(resync);
      }
      return;
    }
    if (!channelName.startsWith(this.#userPrefix)) return;
    const channel = this.#channels.get(channelName.slice(this.#userPrefix.length));
    if (!channel) return;
    let event: BusEvent;
    try {
      event = { kind: 'message', message: superjson.parse<Message>(payload) };
    } catch (err) {
      // A garbled doorbell still rang: the listeners re-read the store.
      this.#log.warn({ err, channel: channelName }, 'Redis bus received an unreadable event');
      event = resync;
    }
    for (const listener of channel.listeners) listener(event);
  }

  async #announceResync(): Promise<void> {
    this.#publishLost = false;
    try {
      await this.#pub.publish(this.#resyncChannel, '');
      this.#log.info('Redis bus announced a resync after lost publishes');
    } catch (err) {
      this.#publishLost = true;
      this.#log.warn({ err }, 'Redis bus could not announce a resync; will retry when Redis is back');
    }
  }
}
