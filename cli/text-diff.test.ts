import { describe, expect, it } from 'vitest';
import { diffLines, unifiedHunks } from './text-diff.ts';

describe('text diff', () => {
  it('prints removals before additions, with context', () => {
    const lines = diffLines(['a', 'b', 'c'], ['a', 'B', 'c']);
    expect(lines.map((l) => l.op + l.text)).toEqual([' a', '-b', '+B', ' c']);
    expect(unifiedHunks(diffLines(['a', 'b'], ['a', 'b']))).toEqual([]);
  });
  it('splits far-apart changes into hunks', () => {
    const before = Array.from({ length: 20 }, (_, i) => String(i));
    const after = before.map((line) => (line === '1' || line === '18' ? `${line}!` : line));
    expect(unifiedHunks(diffLines(before, after), 2)).toHaveLength(2);
  });
});
