/**
 * @module metrics
 * Prometheus metrics (`GET /metrics`). One registry per server, so several servers in
 * one process (tests) keep separate counts.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RouterMetrics } from '../router/ports.js';

export function createMetrics() {
  const registry = new Registry();
  // Process metrics, including nodejs_eventloop_lag_seconds.
  collectDefaultMetrics({ register: registry, prefix: 'parley_' });
  const registers = [registry];
  return {
    registry,
    connections: new Gauge({ name: 'parley_connections', help: 'Open WebSocket connections', registers }),
    subscriptions: new Gauge({ name: 'parley_subscriptions', help: 'Open onMessage subscriptions', registers }),
    messagesSent: new Counter({
      name: 'parley_messages_sent_total',
      help: 'sendToUser calls answered with a stored message (idempotent repeats count too)',
      registers,
    }),
    messagesDelivered: new Counter({
      name: 'parley_messages_delivered_total',
      help: 'Messages handed to a subscription (one per connection that received it)',
      registers,
    }),
    deliveryLatency: new Histogram({
      name: 'parley_send_to_deliver_seconds',
      help: 'Time from storing a message to handing it to a subscription (replayed messages count too)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    rateLimited: new Counter({
      name: 'parley_rate_limited_total',
      help: 'Requests refused with TOO_MANY_REQUESTS',
      labelNames: ['procedure'],
      registers,
    }),
    closes: new Counter({
      name: 'parley_connection_closes_total',
      help: 'Connections the server closed, by reason',
      labelNames: ['reason'],
      registers,
    }),
    directCalls: new Counter({
      name: 'parley_direct_calls_total',
      help: 'WebSocket calls served directly, without tRPC’s call machinery (transport/ws/dispatch.ts), by procedure',
      labelNames: ['procedure'],
      registers,
    }),
    storeErrors: new Counter({ name: 'parley_store_errors_total', help: 'Store operations that failed', registers }),
    busErrors: new Counter({ name: 'parley_bus_errors_total', help: 'Bus operations that failed', registers }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The router's view of the metrics. */
export function routerMetrics(m: Metrics): RouterMetrics {
  return {
    messageSent: () => m.messagesSent.inc(),
    messageDelivered: (sentAt) => {
      m.messagesDelivered.inc();
      m.deliveryLatency.observe((Date.now() - sentAt.getTime()) / 1000);
    },
    rateLimited: (procedure) => m.rateLimited.inc({ procedure }),
    subscriptionOpened: () => m.subscriptions.inc(),
    subscriptionClosed: () => m.subscriptions.dec(),
  };
}

/**
 * Wraps every method of `target` that returns a promise so that a rejection is counted
 * (then passed on unchanged).
 */
export function countingFailures<T extends object>(target: T, onFailure: () => void): T {
  return new Proxy(target, {
    get(obj, prop) {
      const value = Reflect.get(obj, prop) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(obj, args);
        if (!(result instanceof Promise)) return result;
        return result.catch((error: unknown) => {
          onFailure();
          throw error;
        });
      };
    },
  });
}
