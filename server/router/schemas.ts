/**
 * @module schemas
 * Every procedure input, validated with zod. Objects are strict: an unknown key is a
 * BAD_REQUEST, not silently ignored.
 */
import { z } from 'zod';
import { userIdPattern } from '../auth/user-id.js';

export const userId = z
  .string()
  .regex(userIdPattern, 'must be 1-64 characters: letters, digits, and _ . - (not first)');

export const password = z.string().min(8, 'must be at least 8 characters').max(256);

/** Seqs and message ids travel as decimal strings in cursors (tRPC's tracked ids are strings). */
const decimalId = z.string().regex(/^\d{1,15}$/, 'must be a decimal number');

export const historyMaxLimit = 200;

export function createSchemas(maxTextLength: number) {
  return {
    credentials: z.object({ userId, password }).strict(),
    sendToUser: z
      .object({
        to: userId,
        text: z
          .string()
          .max(maxTextLength, `must be at most ${maxTextLength} characters`)
          .regex(/\S/, 'must not be empty'),
        clientMsgId: z.string().min(1).max(128).optional(),
      })
      .strict(),
    onMessage: z.object({ lastEventId: decimalId.nullish() }).strict().optional(),
    ack: z.object({ upTo: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }).strict(),
    history: z
      .object({
        with: userId,
        before: decimalId.optional(),
        limit: z.number().int().min(1).max(historyMaxLimit).default(50),
      })
      .strict(),
  };
}
