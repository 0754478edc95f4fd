/**
 * @module transformer
 * superjson on the wire, with a fast path for what the server sends most: plain objects,
 * arrays, strings, numbers, booleans, null and Dates. It writes superjson's own format
 * (`{ json, meta: { values: { path: ['Date'] }, v: 1 } }`), so any superjson client reads
 * it; anything else (Map, Set, BigInt, undefined, class instances, non-finite numbers,
 * keys superjson would escape) goes through superjson itself. Inputs are always parsed by
 * superjson.
 */
import superjson from 'superjson';

type Annotations = Record<string, ['Date']>;

/** Thrown inside the walk to hand the whole value back to superjson. */
const notPlain = Symbol('notPlain');

function walk(value: unknown, path: string, dates: { values: Annotations | null }): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || Object.is(value, -0)) throw notPlain;
    return value;
  }
  if (typeof value !== 'object') throw notPlain;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime()) || path === '') throw notPlain;
    (dates.values ??= {})[path] = ['Date'];
    return value.toISOString();
  }
  const prefix = path === '' ? '' : `${path}.`;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = walk(value[i], prefix + i, dates);
    return out;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) throw notPlain;
  const out: Record<string, unknown> = {};
  for (const key in value) {
    if (key.includes('.') || key.includes('\\') || key === '__proto__') throw notPlain;
    out[key] = walk((value as Record<string, unknown>)[key], prefix + key, dates);
  }
  return out;
}

export function serialize(value: unknown): unknown {
  const dates: { values: Annotations | null } = { values: null };
  let json: unknown;
  try {
    json = walk(value, '', dates);
  } catch (error) {
    if (error === notPlain) return superjson.serialize(value);
    throw error;
  }
  return dates.values === null ? { json } : { json, meta: { values: dates.values, v: 1 } };
}

export const transformer = {
  input: superjson,
  output: { serialize, deserialize: superjson.deserialize.bind(superjson) },
};
