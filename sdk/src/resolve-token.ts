/** @module resolve-token */
import type { TokenSource } from './types.js';

export async function resolveToken(source: TokenSource): Promise<string> {
  return typeof source === 'function' ? await source() : source;
}
