/** @module peer */
import type { Message } from '@parley/sdk';

/** The other person in `message`'s conversation, seen from `me`. */
export function peerOf(message: Message, me: string): string {
  return message.from === me ? message.to : message.from;
}
