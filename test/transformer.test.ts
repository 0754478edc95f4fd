import { describe, expect, it } from 'vitest';
import superjson from 'superjson';
import { serialize } from '../server/router/transformer.js';

const message = { id: '1', seq: 5, from: 'a', to: 'b', text: 'x', clientMsgId: null, sentAt: new Date(0) };

describe('the output transformer', () => {
  const values: Array<[string, unknown]> = [
    ['a tracked message', { id: '5', data: message }],
    ['nested arrays with dates', [{ a: new Date(5), b: [new Date(6)] }]],
    ['a page without dates', { items: [], nextCursor: null }],
    ['null', null],
    ['a string', 'x'],
    ['a number', 3],
    ['a boolean', true],
    ['an undefined field', { a: undefined }],
    ['a bare Date', new Date(1)],
    ['a key with a dot', { 'x.y': new Date(2) }],
    ['a Map', new Map([[1, 2]])],
    ['NaN', { n: NaN }],
    ['-0', { n: -0 }],
    ['a BigInt', { b: 10n }],
    ['an invalid Date', { d: new Date(NaN) }],
  ];

  for (const [name, value] of values) {
    it(`writes superjson's exact format for ${name}, and superjson reads it back`, () => {
      const ours = JSON.parse(JSON.stringify(serialize(value))) as unknown;
      expect(ours).toEqual(JSON.parse(JSON.stringify(superjson.serialize(value))));
      expect(superjson.deserialize(serialize(value) as never)).toEqual(value);
    });
  }

  it('hands a class instance to superjson', () => {
    const value = { e: new Error('x') };
    expect(serialize(value)).toEqual(superjson.serialize(value));
  });

  it('refuses a __proto__ key as superjson does, without polluting any prototype', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}') as unknown;
    expect(() => serialize(hostile)).toThrow(/prototype pollution/);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
