/**
 * @module validation-errors
 * What a client reads when its input fails a procedure's zod schema: per-field messages
 * (`fieldErrors`), messages about the input as a whole (`formErrors`, such as an unknown
 * key), and a one-line message, instead of zod's issues as JSON in `error.message`.
 */
import type { TRPCError } from '@trpc/server';
import { z } from 'zod';

export interface ValidationDetails {
  /** "text: must be at most 4000 characters; to: …", one clause per issue. */
  message: string;
  /** Messages by top-level input key. */
  fieldErrors: Record<string, string[]>;
  /** Messages about the input as a whole (an unknown key, a missing object). */
  formErrors: string[];
}

/** The details of an input validation error, or null when `error` is not one. */
export function validationDetails(error: TRPCError): ValidationDetails | null {
  if (error.code !== 'BAD_REQUEST' || !(error.cause instanceof z.core.$ZodError)) return null;
  const { issues } = error.cause;
  const { fieldErrors, formErrors } = z.flattenError(error.cause);
  const message = issues
    .map((issue) => (issue.path.length === 0 ? issue.message : `${issue.path.map(String).join('.')}: ${issue.message}`))
    .join('; ');
  return { message, fieldErrors: fieldErrors as Record<string, string[]>, formErrors };
}
