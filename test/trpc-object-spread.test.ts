import { describe, expect, it } from 'vitest';
import { original, fast } from '../scripts/patch-trpc-object-spread.mjs';

type Spread = (...args: unknown[]) => Record<PropertyKey, unknown>;

function compile(source: string): Spread {
  const helpers = `
    function _defineProperty(e, r, t) { return r in e ? Object.defineProperty(e, r, { value: t, enumerable: true, configurable: true, writable: true }) : e[r] = t, e; }
    function ownKeys(e, r) { var t = Object.keys(e); if (Object.getOwnPropertySymbols) { var o = Object.getOwnPropertySymbols(e); r && (o = o.filter(function(r) { return Object.getOwnPropertyDescriptor(e, r).enumerable; })), t.push.apply(t, o); } return t; }`;
  return new Function(`${helpers}\n${source}\nreturn _objectSpread2;`)() as Spread;
}

describe("the patched tRPC object-spread helper", () => {
  const slow = compile(original as string);
  const quick = compile(fast as string);
  const sym = Symbol('s');
  const hidden = Symbol('hidden');
  const withSymbols = { a: 1, [sym]: 2 };
  Object.defineProperty(withSymbols, hidden, { value: 3, enumerable: false });
  const inherited = Object.assign(Object.create({ inheritedKey: 1 }) as object, { own: 2 });
  // Shared, so both helpers' results hold the same function objects.
  const next = () => undefined;
  const getter = () => 2;
  const hostile = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as object;
  const cases: Array<[string, () => unknown[]]> = [
    ['spreads and overrides in order', () => [{}, { a: 1, b: 2 }, {}, { b: 3, c: 4 }]],
    ['skips null and undefined', () => [{}, null, {}, undefined, { a: 1 }]],
    ['copies enumerable symbols only', () => [{}, withSymbols]],
    ['skips inherited keys', () => [{}, inherited]],
    ['keeps a __proto__ key as an own property', () => [{}, hostile]],
    ['keeps integer-key order', () => [{}, { 2: 'b', 1: 'a', z: 'z' }]],
    // What tRPC's compiled `{ ...opts, input, next() {} }` passes: copy, then define.
    ['defines a literal over a copy, overriding and adding', () => [{ a: 1, b: 2 }, {}, { b: 3, next }]],
    ['defines getters of an even argument as getters', () => [{ a: 1 }, {}, Object.defineProperty({}, 'a', { get: getter, enumerable: true, configurable: true })]],
    ['defines non-enumerable properties of an even argument', () => [{}, {}, Object.defineProperty({}, 'x', { value: 1 })]],
    ['replaces an accessor of the target when copying', () => [Object.defineProperty({}, 'a', { get: () => 1, configurable: true }), { a: 2 }]],
    ['replaces a read-only property of the target when copying', () => [Object.defineProperty({}, 'a', { value: 1, configurable: true, enumerable: true }), { a: 2 }]],
    ['fills a target without a prototype', () => [Object.create(null) as object, { a: 1 }, {}, { b: 2 }]],
    ['spreads strings like objects', () => [{}, 'ab', {}, 'c']],
  ];
  for (const [name, args] of cases) {
    it(`${name}, exactly like the original`, () => {
      const a = slow(...args());
      const b = quick(...args());
      expect(Reflect.ownKeys(b)).toEqual(Reflect.ownKeys(a));
      for (const key of Reflect.ownKeys(a)) expect(Object.getOwnPropertyDescriptor(b, key)).toEqual(Object.getOwnPropertyDescriptor(a, key));
      expect(Object.getPrototypeOf(b)).toBe(Object.getPrototypeOf(a));
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    });
  }
});
