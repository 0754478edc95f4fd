/**
 * @module body-limit
 * PARLEY_MAX_BODY for HTTP requests. A `Content-Length` over the limit is answered 413
 * before a byte of the body is read (before `100 Continue`, for clients that wait for it);
 * a chunked body is counted as it arrives by tRPC's `maxBodySize`, which fails the call
 * with PAYLOAD_TOO_LARGE (413) at the first byte over. Either way the reply closes the
 * connection, so the rest of the body is never read.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getErrorShape, transformTRPCResponse, TRPCError, type AnyRouter } from '@trpc/server';

export function declaredBodyTooLarge(req: IncomingMessage, maxBytes: number): boolean {
  const length = Number(req.headers['content-length']);
  return Number.isFinite(length) && length > maxBytes;
}

export function tooLargeMessage(maxBytes: number): string {
  return `The request body is larger than ${maxBytes} bytes (PARLEY_MAX_BODY)`;
}

/** For tRPC's `responseMeta`: a call refused for its body size closes its connection. */
export function closeWhenTooLarge({ errors }: { errors: readonly TRPCError[] }) {
  return errors.some((error) => error.code === 'PAYLOAD_TOO_LARGE') ? { headers: { connection: 'close' } } : {};
}

/** Answers 413 in tRPC's error format (the SDK reports PAYLOAD_TOO_LARGE), without reading the body. */
export function refuseDeclaredBody(router: AnyRouter, res: ServerResponse, maxBytes: number): void {
  const config = router._def._config;
  const error = new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message: tooLargeMessage(maxBytes) });
  const shape = getErrorShape({ config, error, type: 'unknown', path: undefined, input: undefined, ctx: undefined });
  const text = JSON.stringify(transformTRPCResponse(config, { error: shape }));
  res.writeHead(413, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    connection: 'close',
  });
  res.end(text);
}
