/**
 * @module log
 * Structured logs with pino. Tokens, passwords and message text are never logged: the
 * redaction list is a safety net, the rule is not to pass them in the first place.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'parley' },
    redact: {
      paths: ['token', 'password', 'text', '*.token', '*.password', '*.text', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}
