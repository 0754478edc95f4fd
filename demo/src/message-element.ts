/**
 * @module message-element
 * One message in the conversation: its text set as text (a message is never HTML),
 * who wrote it for screen readers, and when.
 */
import type { Message } from '@parley/sdk';
import { textElement } from './dom.js';
import { formatTime } from './format-time.js';

export function messageElement(message: Message, me: string): HTMLLIElement {
  const mine = message.from === me;
  const item = document.createElement('li');
  item.className = `message ${mine ? 'mine' : 'theirs'}`;
  item.dataset['id'] = message.id;
  item.append(
    textElement('span', 'visually-hidden', mine ? 'You: ' : `${message.from}: `),
    textElement('p', 'text', message.text),
  );
  const time = textElement('time', 'time', formatTime(message.sentAt));
  time.dateTime = message.sentAt.toISOString();
  item.append(time);
  return item;
}

/** A message on its way: shown at once, replaced by the stored one when the send returns. */
export function pendingElement(clientMsgId: string, text: string): HTMLLIElement {
  const item = document.createElement('li');
  item.className = 'message mine pending';
  item.dataset['pending'] = clientMsgId;
  item.append(
    textElement('span', 'visually-hidden', 'You: '),
    textElement('p', 'text', text),
    textElement('span', 'time', 'Sending…'),
  );
  return item;
}
