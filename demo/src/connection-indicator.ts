/**
 * @module connection-indicator
 * What the page says about its connection. It combines the SDK's socket state with the
 * browser's own idea of the network: a socket can look open for a while after the
 * network went away, and the browser knows that first.
 */
import type { ConnectionState } from '@parley/sdk';

export type IndicatorState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

const labels: Record<IndicatorState, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

export function indicatorState(socket: ConnectionState, online: boolean): IndicatorState {
  if (!online) return 'offline';
  if (socket === 'connected') return 'connected';
  if (socket === 'reconnecting') return 'reconnecting';
  return 'connecting';
}

export function showIndicator(element: HTMLElement, state: IndicatorState): void {
  if (element.dataset['state'] === state && element.textContent === labels[state]) return;
  element.dataset['state'] = state;
  element.textContent = labels[state];
}
