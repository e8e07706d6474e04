import { describe, expect, it } from 'vitest';
import { matches, parseSelector } from './labels.ts';

describe('label selectors', () => {
  it.each([
    ['tier=front', { tier: 'front' }, true],
    ['tier==front', { tier: 'back' }, false],
    ['tier!=front', {}, true],
    ['tier!=front', { tier: 'front' }, false],
    ['tier in (front, back)', { tier: 'back' }, true],
    ['tier notin (front)', { tier: 'back' }, true],
    ['tier', {}, false],
    ['!tier', {}, true],
    ['tier=front,env in (prod)', { tier: 'front', env: 'prod' }, true],
    ['tier=front,env in (prod)', { tier: 'front', env: 'dev' }, false],
  ])('%s on %j → %s', (selector, labels, expected) => {
    expect(matches(parseSelector(selector), labels)).toBe(expected);
  });

  it('rejects nonsense with a sentence naming the part', () => {
    expect(() => parseSelector('a=b,=c')).toThrow(/invalid label selector "=c"/);
  });
});
