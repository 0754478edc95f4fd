/**
 * @module user-id
 * The wire contract's user id rule (protocol/user-id.ts), checked in the page so a typo
 * gets an answer before a round trip.
 */
export { isUserId } from '../../protocol/user-id.js';

export const userIdRule = 'A user id is 1-64 letters, digits and _ . - (not first).';
