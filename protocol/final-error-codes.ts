/**
 * @module final-error-codes
 * tRPC error codes after which trying the same call again cannot help: the request
 * itself is refused. The SDK retries every other failure.
 */
export const finalErrorCodes: ReadonlySet<string> = new Set([
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'PARSE_ERROR',
  'METHOD_NOT_SUPPORTED',
  'PAYLOAD_TOO_LARGE',
  'UNPROCESSABLE_CONTENT',
  'TOO_MANY_REQUESTS',
]);
