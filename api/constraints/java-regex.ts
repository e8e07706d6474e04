// LIKE and UNLIKE take a Java regular expression that must match the whole value (Java's
// String.matches). JavaScript's dialect differs in places that would match differently without an
// error (`\s`, `.`, `$`, `[a&&b]`, `\p{Alpha}`), so a pattern is read token by token and written
// out in JavaScript (with the `u` flag: code points, as Java): the common subset means the same,
// what Java alone has is refused with a sentence naming it, never passed on to match differently.
//
// Translated: literals and escapes (`\t \n \r \f \a \e \0oct \xhh \x{h…} \uhhhh \cX`, `\Q…\E`),
// classes (ranges, negation, `\d \D \w \W \s`), groups (capturing, `(?:`, `(?<name>`, look-ahead
// and look-behind), alternation, greedy and lazy quantifiers, back-references, `^ $ \A \z \Z`.
// Refused: possessive quantifiers, atomic groups, inline flags, `\p{…}` classes, class union and
// intersection, `\b \B \G \h \H \v \V \R \X \N`.

const say = {
  possessive: (q: string) => `possessive quantifier "${q}" is Java-only: drop the last "+"`,
  atomic: 'atomic group "(?>" is Java-only: use "(?:"',
  flags: (f: string) => `inline flags "(?${f}" are Java-only: write the cases out, e.g. [Aa]`,
  property: (p: string) => `"\\${p}{…}" classes are Java-only: list the characters, e.g. [a-zA-Z]`,
  classSetOp: (op: string) => `class ${op} ("[a-z&&[^x]]", "[a[b]]") is Java-only: list the characters in one class`,
  notInClass: (e: string) => `"\\${e}" inside a class is not supported: write [^…] instead`,
  escape: (e: string) => `"\\${e}" is not supported (its meaning differs between Java versions or from JavaScript)`,
  unknownEscape: (e: string) => `"\\${e}" is not an escape Java knows`,
  trailingBackslash: 'a trailing "\\" escapes nothing',
  unclosedClass: 'a "[" without its "]"',
  unclosedGroup: 'a "(" without its ")"',
  unmatchedParen: 'a ")" without its "("',
  badGroup: (g: string) => `"(${g}" is not a group Java knows`,
  badName: (n: string) => `group name "${n}": Java wants a letter, then letters or digits`,
  unknownGroup: (n: string) => `"\\k<${n}>" names no group defined before it`,
  backReference: (n: string) => `"\\${n}" refers to no group defined before it`,
  repetition: 'a "{" that is not a repetition {n}, {n,} or {n,m}: escape it as \\{',
  nothingToRepeat: (q: string) => `"${q}" repeats nothing`,
  badRange: (from: string, to: string) => `the class range ${from}-${to} runs backwards`,
  octal: 'an octal escape is \\0 followed by 1 to 3 octal digits',
  hex: 'a hex escape is \\xhh or \\x{h…}',
  unicode: 'a unicode escape is \\uhhhh',
  control: 'a control escape is \\c followed by a character',
  compile: (message: string) => `it does not compile: ${message}`,
};

export type JavaRegex = { kind: 'regex'; regex: RegExp } | { kind: 'refused'; reason: string };

/** The pattern as a JavaScript RegExp matching what Java's `value.matches(pattern)` matches. */
export function compileJavaRegex(pattern: string): JavaRegex {
  const translated = translate(pattern);
  if (typeof translated !== 'string') return { kind: 'refused', reason: translated.reason };
  try {
    return { kind: 'regex', regex: new RegExp(`^(?:${translated})$`, 'u') };
  } catch (error) {
    return { kind: 'refused', reason: say.compile((error as Error).message.replace(/^Invalid regular expression: /, '')) };
  }
}

class Refused {
  constructor(readonly reason: string) {}
}

/** Java's line terminators: `.` matches none of them, `$` may stand before a final one. */
const DOT = '[^\\n\\r\\u0085\\u2028\\u2029]';
const END = '(?:$|(?=\\r\\n$)|(?<!\\r)(?=\\n$)|(?=[\\r\\u0085\\u2028\\u2029]$))';
/** Java's \s is ASCII whitespace only; JavaScript's also has Unicode spaces. */
const SPACE = ' \\t\\n\\x0B\\f\\r';
const GROUP_NAME = /^[a-zA-Z][a-zA-Z0-9]*$/;

/** A code point as JavaScript source that means only that character, in or out of a class. */
function literal(codePoint: number): string {
  const char = String.fromCodePoint(codePoint);
  return /^[a-zA-Z0-9 _,:;'"<>=!@#%&~`]$/.test(char) ? char : `\\u{${codePoint.toString(16)}}`;
}

function translate(pattern: string): string | Refused {
  try {
    return new Translator(pattern).run();
  } catch (error) {
    if (error instanceof Refused) return error;
    throw error;
  }
}

class Translator {
  private readonly chars: string[];
  private at = 0;
  private out = '';
  private groups = 0;
  private readonly names = new Set<string>();
  private depth = 0;
  /** Whether the last thing written can take a quantifier. */
  private quantifiable = false;

  constructor(pattern: string) {
    this.chars = [...pattern];
  }

  run(): string {
    while (this.at < this.chars.length) this.step();
    if (this.depth > 0) throw new Refused(say.unclosedGroup);
    return this.out;
  }

  private peek(offset = 0): string | undefined {
    return this.chars[this.at + offset];
  }

  private emit(text: string, quantifiable: boolean): void {
    this.out += text;
    this.quantifiable = quantifiable;
  }

  private step(): void {
    const c = this.chars[this.at++]!;
    switch (c) {
      case '\\':
        return this.escape();
      case '[':
        return this.emit(this.characterClass(), true);
      case '(':
        return this.openGroup();
      case ')':
        if (this.depth === 0) throw new Refused(say.unmatchedParen);
        this.depth -= 1;
        return this.emit(')', true);
      case '*':
      case '+':
      case '?':
        return this.quantifier(c);
      case '{':
        return this.repetition();
      case '.':
        return this.emit(DOT, true);
      case '^':
        return this.emit('^', false);
      case '$':
        return this.emit(END, false);
      case '|':
        return this.emit('|', false);
      default:
        return this.emit(literal(c.codePointAt(0)!), true);
    }
  }

  private quantifier(q: string): void {
    if (!this.quantifiable) throw new Refused(say.nothingToRepeat(q));
    this.emit(q, false);
    this.suffix(q);
  }

  /** `?` after a quantifier makes it lazy (same in both); `+` possessive (Java only). */
  private suffix(q: string): void {
    if (this.peek() === '?') {
      this.at += 1;
      this.out += '?';
    } else if (this.peek() === '+') {
      throw new Refused(say.possessive(`${q}+`));
    }
  }

  private repetition(): void {
    const rest = this.chars.slice(this.at).join('');
    const match = /^([0-9]+)(,([0-9]*))?\}/.exec(rest);
    // Java reads "{" only as a repetition: a literal one, as in a set value {0,1}, needs its backslash.
    if (!match || !this.quantifiable) throw new Refused(say.repetition);
    this.at += [...match[0]].length;
    this.emit(`{${match[0]}`, false);
    this.suffix(`{${match[0]}`);
  }

  private openGroup(): void {
    this.depth += 1;
    if (this.peek() !== '?') {
      this.groups += 1;
      return this.emit('(', false);
    }
    const next = this.peek(1);
    const after = this.peek(2);
    if (next === ':' || next === '=' || next === '!') {
      this.at += 2;
      return this.emit(`(?${next}`, false);
    }
    if (next === '<' && (after === '=' || after === '!')) {
      this.at += 3;
      return this.emit(`(?<${after}`, false);
    }
    if (next === '<') {
      const close = this.chars.indexOf('>', this.at + 2);
      const name = close < 0 ? '' : this.chars.slice(this.at + 2, close).join('');
      if (!GROUP_NAME.test(name)) throw new Refused(say.badName(name));
      this.at = close + 1;
      this.groups += 1;
      this.names.add(name);
      return this.emit(`(?<${name}>`, false);
    }
    if (next === '>') throw new Refused(say.atomic);
    const flags = /^[idmsuxU-]+[:)]/.exec(this.chars.slice(this.at + 1).join(''));
    if (flags) throw new Refused(say.flags(flags[0]));
    throw new Refused(say.badGroup(`?${next ?? ''}`));
  }

  private escape(): void {
    const e = this.chars[this.at++];
    if (e === undefined) throw new Refused(say.trailingBackslash);
    if (e >= '1' && e <= '9') return this.backReference(e);
    switch (e) {
      case 'd':
      case 'D':
      case 'w':
      case 'W':
        return this.emit(`\\${e}`, true);
      case 's':
        return this.emit(`[${SPACE}]`, true);
      case 'S':
        return this.emit(`[^${SPACE}]`, true);
      case 'A':
        return this.emit('^', false);
      case 'z':
        return this.emit('$', false);
      case 'Z':
        return this.emit(END, false);
      case 'Q':
        return this.emit(`(?:${this.quoted()})`, true);
      case 'k':
        return this.namedReference();
      default:
        refuseJavaOnly(e, JAVA_ONLY_ESCAPES);
        return this.emit(literal(this.escapedChar(e)), true);
    }
  }

  /** The character a literal escape stands for (after the backslash and `e`). */
  private escapedChar(e: string): number {
    switch (e) {
      case 't':
        return 0x09;
      case 'n':
        return 0x0a;
      case 'r':
        return 0x0d;
      case 'f':
        return 0x0c;
      case 'a':
        return 0x07;
      case 'e':
        return 0x1b;
      case '0':
        return this.octal();
      case 'x':
        return this.hex();
      case 'u':
        return this.unicode();
      case 'c': {
        const c = this.chars[this.at++];
        if (c === undefined) throw new Refused(say.control);
        return c.codePointAt(0)! ^ 64;
      }
      default:
        if (/^[a-zA-Z]$/.test(e)) throw new Refused(say.unknownEscape(e));
        return e.codePointAt(0)!;
    }
  }

  private octal(): number {
    const digits = /^[0-7]{1,3}/.exec(this.chars.slice(this.at, this.at + 3).join(''))?.[0] ?? '';
    // Java reads a third digit only while the value stays below 0400.
    const taken = digits.length === 3 && digits[0]! > '3' ? digits.slice(0, 2) : digits;
    if (!taken) throw new Refused(say.octal);
    this.at += taken.length;
    return parseInt(taken, 8);
  }

  private hex(): number {
    const rest = this.chars.slice(this.at, this.at + 10).join('');
    const match = /^\{([0-9a-fA-F]{1,6})\}/.exec(rest) ?? /^([0-9a-fA-F]{2})/.exec(rest);
    const value = match ? parseInt(match[1]!, 16) : NaN;
    if (!match || value > 0x10ffff) throw new Refused(say.hex);
    this.at += match[0].length;
    return value;
  }

  private unicode(): number {
    const match = /^[0-9a-fA-F]{4}/.exec(this.chars.slice(this.at, this.at + 4).join(''));
    if (!match) throw new Refused(say.unicode);
    this.at += 4;
    return parseInt(match[0], 16);
  }

  /** `\Q…\E`: everything between is literal; without `\E`, up to the end. */
  private quoted(): string {
    let text = '';
    while (this.at < this.chars.length && !(this.chars[this.at] === '\\' && this.chars[this.at + 1] === 'E')) {
      text += literal(this.chars[this.at++]!.codePointAt(0)!);
    }
    if (this.at < this.chars.length) this.at += 2;
    return text;
  }

  /** Java reads as many digits as still name a group defined so far (`\11` is group 1 then "1" with fewer than 11 groups). */
  private backReference(first: string): void {
    let number = Number(first);
    if (number > this.groups) throw new Refused(say.backReference(first));
    while (this.peek() !== undefined && /[0-9]/.test(this.peek()!) && number * 10 + Number(this.peek()) <= this.groups) {
      number = number * 10 + Number(this.chars[this.at++]);
    }
    this.emit(`(?:\\${number})`, true);
  }

  private namedReference(): void {
    const close = this.chars.indexOf('>', this.at);
    const name = this.peek() === '<' && close > 0 ? this.chars.slice(this.at + 1, close).join('') : '';
    if (!this.names.has(name)) throw new Refused(say.unknownGroup(name));
    this.at = close + 1;
    this.emit(`\\k<${name}>`, true);
  }

  /** A class after its `[`: returned as JavaScript source. */
  private characterClass(): string {
    let out = '[';
    if (this.peek() === '^') {
      this.at += 1;
      out += '^';
    }
    let first = true;
    for (;;) {
      const c = this.chars[this.at];
      if (c === undefined) throw new Refused(say.unclosedClass);
      // Java reads a "]" that opens the class as a literal one.
      if (c === ']' && !first) {
        this.at += 1;
        return `${out}]`;
      }
      if (c === '[') throw new Refused(say.classSetOp('union'));
      if (c === '&' && this.peek(1) === '&') throw new Refused(say.classSetOp('intersection'));
      first = false;
      const item = this.classItem();
      if (typeof item === 'string') {
        out += item;
        continue;
      }
      if (this.peek() === '-' && this.peek(1) !== undefined && this.peek(1) !== ']' && this.peek(1) !== '[') {
        this.at += 1;
        const end = this.classItem();
        if (typeof end === 'string') throw new Refused(say.badRange(String.fromCodePoint(item), end));
        if (end < item) throw new Refused(say.badRange(String.fromCodePoint(item), String.fromCodePoint(end)));
        out += `${literal(item)}-${literal(end)}`;
      } else {
        out += literal(item);
      }
    }
  }

  /** One item of a class: a character (its code point) or a set of them (JavaScript source). */
  private classItem(): number | string {
    const c = this.chars[this.at++]!;
    if (c !== '\\') return c.codePointAt(0)!;
    const e = this.chars[this.at++];
    if (e === undefined) throw new Refused(say.trailingBackslash);
    switch (e) {
      case 'd':
      case 'D':
      case 'w':
      case 'W':
        return `\\${e}`;
      case 's':
        return SPACE;
      case 'S':
        throw new Refused(say.notInClass(e));
      case 'Q':
        return this.quoted();
      default:
        refuseJavaOnly(e, JAVA_ONLY_IN_CLASS);
        if (e >= '1' && e <= '9') throw new Refused(say.escape(e));
        return this.escapedChar(e);
    }
  }
}

/**
 * Escapes whose Java meaning JavaScript lacks or spells differently (boundaries, \h \v \R, \X, \G,
 * a stray \E; in a class also \k): refused, never matched differently. \p{...} has its own message.
 */
const JAVA_ONLY_ESCAPES = new Set(['b', 'B', 'G', 'h', 'H', 'v', 'V', 'R', 'X', 'N', 'E']);
const JAVA_ONLY_IN_CLASS = new Set(['b', 'B', 'h', 'H', 'v', 'V', 'R', 'X', 'N', 'E', 'k']);

function refuseJavaOnly(escape: string, javaOnly: ReadonlySet<string>): void {
  if (escape === 'p' || escape === 'P') throw new Refused(say.property(escape));
  if (javaOnly.has(escape)) throw new Refused(say.escape(escape));
}
