import { describe, expect, it } from 'vitest';
import { jittered } from './repository.ts';

describe('jittered: an interval ±10 %, so repositories created together do not poll together', () => {
  it.each([
    { random: 0, ms: 54_000 },
    { random: 0.5, ms: 60_000 },
    { random: 0.999_999, ms: 66_000 },
  ])('random $random → $ms', ({ random, ms }) => {
    expect(jittered(60_000, () => random)).toBe(ms);
  });
});
