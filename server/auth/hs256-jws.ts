/**
 * @module hs256-jws
 * Checks a compact JWS signed with HS256 and returns its JSON payload, synchronously:
 * an HMAC over a few hundred bytes takes microseconds on the event loop, while WebCrypto
 * (what jose's verify uses) queues it on libuv's thread pool behind password hashing.
 *
 * Strict by construction: only `alg: HS256`; no `crit` (so no extension, in particular no
 * `b64: false` unencoded payload); base64url without padding; the signature compared in
 * constant time against the canonical encoding of the expected one.
 */
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';

const base64url = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeJsonObject(segment: string): Record<string, unknown> | null {
  // Node's decoder skips characters outside the alphabet; refuse them instead.
  if (!base64url.test(segment) || segment.length % 4 === 1) return null;
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
  } catch {
    return null;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** The payload of `token` if it is an HS256 JWS signed with `key`; null otherwise. */
export function verifyHs256Jws(token: string, key: KeyObject): Record<string, unknown> | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJsonObject(headerPart);
  if (header === null || header['alg'] !== 'HS256' || 'crit' in header) return null;
  if ('b64' in header && header['b64'] !== true) return null;

  const expected = Buffer.from(
    createHmac('sha256', key).update(`${headerPart}.${payloadPart}`).digest('base64url'),
  );
  const given = Buffer.from(signaturePart);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return decodeJsonObject(payloadPart);
}
