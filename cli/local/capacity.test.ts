import { describe, expect, it } from 'vitest';
import { describeOffer, offeredCpus, overcommitFactor } from './capacity.ts';

describe('what a node offers', () => {
  it.each([
    { cpus: 2, overcommit: 4, offered: 8 },
    { cpus: 2, overcommit: 1, offered: 2 },
    { cpus: 3, overcommit: 1.5, offered: 4.5 },
    { cpus: 0.1, overcommit: 3, offered: 0.3 },
  ])('$cpus cpus × $overcommit → $offered', ({ cpus, overcommit, offered }) => {
    expect(offeredCpus(cpus, overcommit)).toBe(offered);
  });

  it.each([
    { overcommit: 4, text: 'offers 8 cpus (2 × cpu overcommit 4: cpu is shared, not reserved; see --cpu-overcommit) and 1024 MiB memory' },
    { overcommit: 1, text: 'offers 2 cpus and 1024 MiB memory' },
  ])('says what it offers (overcommit $overcommit)', ({ overcommit, text }) => {
    expect(describeOffer({ cpus: 2, overcommit, mem: 1024 })).toBe(text);
  });

  it.each([
    { value: '4', expected: 4 },
    { value: '1', expected: 1 },
    { value: '2.5', expected: 2.5 },
    { value: '0.5', expected: 'expected a number of at least 1' },
    { value: 'lots', expected: 'expected a number of at least 1' },
    { value: '', expected: 'expected a number of at least 1' },
  ])('--cpu-overcommit $value', ({ value, expected }) => {
    const parse = () => overcommitFactor('--cpu-overcommit')(value);
    if (typeof expected === 'number') expect(parse()).toBe(expected);
    else expect(parse).toThrow(expected);
  });
});
