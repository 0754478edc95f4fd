/**
 * @module describe-error
 * Turns what a Parley call threw into one sentence a person can act on.
 */
import { TRPCClientError } from '@parley/sdk';

const fieldNames: Record<string, string> = {
  userId: 'User id',
  password: 'Password',
  to: 'User id',
  text: 'Message',
};

function errorCode(error: unknown): string | undefined {
  if (!(error instanceof TRPCClientError)) return undefined;
  return (error.data as { code?: string } | undefined)?.code;
}

export function isUnauthorized(error: unknown): boolean {
  return errorCode(error) === 'UNAUTHORIZED';
}

/** Input errors arrive as zod's JSON list of issues; each becomes "Field must …". */
function describeValidation(message: string): string | null {
  try {
    const issues = JSON.parse(message) as { path?: unknown[]; message?: string }[];
    if (!Array.isArray(issues) || issues.length === 0) return null;
    return issues
      .map(({ path, message: text }) => {
        const field = String(path?.[0] ?? '');
        return `${fieldNames[field] ?? field} ${text ?? 'is invalid'}`.trim();
      })
      .join('. ');
  } catch {
    return null;
  }
}

export function describeError(error: unknown): string {
  if (error instanceof TRPCClientError) {
    const code = errorCode(error);
    if (code === undefined) return 'Cannot reach the server. Check your connection and try again.';
    if (code === 'BAD_REQUEST') return describeValidation(error.message) ?? error.message;
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
