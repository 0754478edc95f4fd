/**
 * @module schemas
 * Every procedure input, validated with zod. Objects are strict: an unknown key is a
 * BAD_REQUEST, not silently ignored.
 */
import { z } from 'zod';
import { userIdPattern } from '../../protocol/user-id.js';

export const userId = z
  .string()
  .regex(userIdPattern, 'must be 1-64 characters: letters, digits, and _ . - (not first)');

export const password = z.string().min(8, 'must be at least 8 characters').max(256);

/** Seqs and message ids travel as decimal strings in cursors (tRPC's tracked ids are strings). */
const decimalId = z.string().regex(/^\d{1,15}$/, 'must be a decimal number');

export const historyMaxLimit = 200;

/** A lone surrogate: half of a UTF-16 pair, with no character of its own. */
const loneSurrogate = /\p{Surrogate}/u;
/**
 * Anything that shows: not white space, not a character Unicode says to render as nothing
 * when unsupported (zero-width spaces and joiners, bidi marks, soft hyphen, variation
 * selectors, the Hangul filler, tags…).
 */
const visible = /[^\s\p{Default_Ignorable_Code_Point}]/u;

/** Characters (code points), not UTF-16 units: an emoji counts once. */
function codePoints(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++, count++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) i++;
  }
  return count;
}

/**
 * Message text: stored exactly as sent on every store, so only what every store keeps
 * losslessly is accepted (SQLite turns a lone surrogate into U+FFFD, PostgreSQL refuses
 * NUL), and only what shows (a text of spaces or zero-width characters is empty).
 */
export function messageText(maxLength: number) {
  return z
    .string()
    .refine((text) => text.length <= maxLength || codePoints(text) <= maxLength, `must be at most ${maxLength} characters`)
    .refine((text) => !text.includes('\0'), 'must not contain the NUL character (U+0000)')
    .refine((text) => !loneSurrogate.test(text), 'must be well-formed Unicode (it has half of a surrogate pair)')
    .refine((text) => visible.test(text), 'must not be empty (it has only spaces or invisible characters)');
}

export function createSchemas(maxTextLength: number) {
  return {
    credentials: z.object({ userId, password }).strict(),
    sendToUser: z
      .object({
        to: userId,
        text: messageText(maxTextLength),
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
