import { describe, expect, it } from 'vitest';
import { mergePatch } from './merge-patch.ts';

// The examples of RFC 7386, appendix A, and the shapes `capstan patch` meets.
describe('mergePatch (RFC 7386)', () => {
  it.each([
    ['replaces a value', { a: 'b' }, { a: 'c' }, { a: 'c' }],
    ['adds a key', { a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    ['null removes a key', { a: 'b' }, { a: null }, {}],
    ['null removes only that key', { a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    ['arrays replace whole', { a: ['b'] }, { a: 'c' }, { a: 'c' }],
    ['a value becomes an array', { a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    ['nested objects merge', { a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    ['arrays of objects replace whole', { a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    ['a non-object patch replaces the target', ['a', 'b'], ['c', 'd'], ['c', 'd']],
    ['an object patch over a scalar starts empty', { a: 'b' }, ['c'], ['c']],
    ['a null in the target stays', { e: null }, { a: 1 }, { e: null, a: 1 }],
    ['an object patch of a scalar target', 'string', { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ['scale an App', { spec: { instances: 1, cmd: 'x' } }, { spec: { instances: 3 } }, { spec: { instances: 3, cmd: 'x' } }],
  ])('%s', (_name, target, patch, expected) => {
    expect(mergePatch(target, patch)).toEqual(expected);
  });

  it('changes neither argument', () => {
    const target = { a: { b: 1 } };
    const patch = { a: { c: 2 } };
    mergePatch(target, patch);
    expect(target).toEqual({ a: { b: 1 } });
    expect(patch).toEqual({ a: { c: 2 } });
  });
});
