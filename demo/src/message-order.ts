/**
 * @module message-order
 * Orders a conversation's messages by id: the order `history` pages in, and the order
 * the server stored them. Ids are decimal strings, so compare them as numbers of any size.
 */
export function compareIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
