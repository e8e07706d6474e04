import { describe, expect, it } from 'vitest';
import { compileJavaRegex } from './java-regex.ts';

const matches = (pattern: string, value: string) => {
  const compiled = compileJavaRegex(pattern);
  if (compiled.kind !== 'regex') throw new Error(compiled.reason);
  return compiled.regex.test(value);
};

describe('Java regular expressions, matched against the whole value', () => {
  it.each<[string, string, boolean]>([
    ['7', '7', true],
    ['7', '17', false], // the whole value, not a part
    ['srv2.*', 'srv2.example.com', true],
    ['eu-.*', 'us-east', false],
    ['\\[6-7\\]', '[6-7]', true],
    ['\\{0,1\\}', '{0,1}', true],
    ['a|b', 'b', true],
    ['(a|b)+c', 'abac', true],
    ['[^a-c]x', 'dx', true],
    ['[]a]', ']', true], // a "]" opening a class is literal, as in Java
    ['[a-]', '-', true],
    ['\\d{2,3}', '123', true],
    ['\\w+', 'rack_1', true],
    ['\\w+', 'rack-1', false],
    ['a.*?b', 'axxb', true],
    ['\\Qa.b\\E', 'a.b', true],
    ['\\Qa.b\\E', 'axb', false],
    ['\\Qa.b', 'a.b', true], // \Q without \E quotes to the end
    ['a\\s', 'a ', true],
    ['a\\s', 'a\u00a0', false], // Java's \s is ASCII; JavaScript's is not
    ['[\\s]', '\t', true],
    ['.', '\u0085', false], // Java's "." stops at every line terminator
    ['.', '😀', true], // one code point, as in Java
    ['x$', 'x', true],
    ['\\Ax\\z', 'x', true],
    ['(a)\\1', 'aa', true],
    ['(?<r>a)\\k<r>', 'aa', true],
    ['(?:ab)+', 'abab', true],
    ['a(?=b).', 'ab', true],
    ['(?<!a)b', 'b', true],
    ['\\x41\\u0042\\0103\\x{44}', 'ABCD', true],
    ['\\t\\e', '\t\u001b', true],
    ['\\@\\#\\-', '@#-', true],
  ])('%s on %s: %s', (pattern, value, expected) => {
    expect(matches(pattern, value)).toBe(expected);
  });

  it.each([
    ['a*+', 'possessive quantifier "*+" is Java-only'],
    ['a{2}+', 'possessive quantifier "{2}+" is Java-only'],
    ['(?>a)', 'atomic group'],
    ['(?i)abc', 'inline flags "(?i)"'],
    ['(?i:abc)', 'inline flags "(?i:"'],
    ['\\p{Alpha}', '"\\p{…}" classes are Java-only'],
    ['\\p{javaLowerCase}', '"\\p{…}" classes are Java-only'],
    ['[a-z&&[^x]]', 'class intersection'],
    ['[a[b]]', 'class union'],
    ['\\bword\\b', '"\\b" is not supported'],
    ['\\h', '"\\h" is not supported'],
    ['[\\S]', '"\\S" inside a class'],
  ])('refuses the Java-only %s', (pattern, reason) => {
    const compiled = compileJavaRegex(pattern);
    expect(compiled.kind).toBe('refused');
    expect(compiled.kind === 'refused' && compiled.reason).toContain(reason);
  });

  it.each([
    ['*', 'repeats nothing'],
    ['eu-(', 'a "(" without its ")"'],
    ['a)|(b', 'a ")" without its "("'], // never smuggled past the anchors
    ['{0,1}', 'escape it as \\{'],
    ['[a-', 'a "[" without its "]"'],
    ['[z-a]', 'runs backwards'],
    ['\\1(a)', 'refers to no group defined before it'],
    ['\\y', 'not an escape Java knows'],
    ['a\\', 'escapes nothing'],
    ['(?<my_name>a)', 'group name'],
  ])('refuses the invalid %s', (pattern, reason) => {
    const compiled = compileJavaRegex(pattern);
    expect(compiled.kind).toBe('refused');
    expect(compiled.kind === 'refused' && compiled.reason).toContain(reason);
  });
});
