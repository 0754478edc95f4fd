/**
 * Collects what an `onMessage` subscription delivers, for assertions.
 */
import type { Message, ParleyClient } from '@parley/sdk';

export interface Collected {
  messages: Message[];
  errors: unknown[];
  texts(): string[];
  seqs(): number[];
  unsubscribe(): void;
}

export function collect(client: ParleyClient, input: { lastEventId?: string | null } = {}): Collected {
  const messages: Message[] = [];
  const errors: unknown[] = [];
  const sub = client.onMessage.subscribe(input, {
    onData: ({ data }) => messages.push(data),
    onError: (error) => errors.push(error),
  });
  return {
    messages,
    errors,
    texts: () => messages.map((m) => m.text),
    seqs: () => messages.map((m) => m.seq),
    unsubscribe: () => sub.unsubscribe(),
  };
}
