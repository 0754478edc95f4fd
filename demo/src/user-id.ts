/**
 * @module user-id
 * The wire contract's user id rule, checked in the page so a typo gets an answer
 * before a round trip.
 */
const userIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const userIdRule = 'A user id is 1-64 letters, digits and _ . - (not first).';

export function isUserId(text: string): boolean {
  return userIdPattern.test(text);
}
