// Mesos' formatting of an attribute value, which Marathon compares constraint values against: a
// scalar is printed with three decimals at most, rounded half-even (`1.0` → `1`), a range list
// sorted by begin (`[5-7,1-2]` → `[1-2,5-7]`), a set with its items sorted (`{b,a}` → `{a,b}`).
// Anything else is text, kept as written (case-sensitive). So `IS 1.0` matches a node's `1`, and a
// task placed on `rack:1.0` counts in the same GROUP_BY group as a node with `rack:1`.

const SCALAR = /^[0-9]+(\.[0-9]+)?$/;
const RANGES = /^\[\s*[0-9]+\s*-\s*[0-9]+\s*(,\s*[0-9]+\s*-\s*[0-9]+\s*)*\]$/;
const SET = /^\{[^{}]*\}$/;

/** A node attribute or constraint value as Mesos prints it. */
export function formatValue(text: string): string {
  if (SCALAR.test(text)) return formatScalar(Number(text));
  if (RANGES.test(text)) return formatRanges(text);
  if (SET.test(text)) return formatSet(text);
  return text;
}

/**
 * A node's attributes with their values as Mesos prints them, computed once per node change rather
 * than per comparison. `hostname` is a name, never formatted (Marathon reads the agent's hostname).
 */
export function formatAttributes(attributes: Readonly<Record<string, string>>): Record<string, string> {
  const formatted: Record<string, string> = {};
  for (const [name, value] of Object.entries(attributes)) formatted[name] = name === 'hostname' ? value : formatValue(value);
  return formatted;
}

/**
 * Java's DecimalFormat("0.###") with HALF_EVEN, which rounds the double's exact binary value: 1.0005
 * is stored just below 1.0005, so it prints `1`, while 0.0005 is stored just above and prints
 * `0.001`. toFixed(100) gives that exact value's digits for every scalar that can round to a
 * non-zero third decimal.
 */
export function formatScalar(value: number): string {
  if (value >= 1e21) return BigInt(value).toString();
  const [whole, fraction] = value.toFixed(100).split('.') as [string, string];
  const kept = fraction.slice(0, 3);
  const rest = fraction.slice(3);
  const half = rest[0] === '5' && /^5?0*$/.test(rest);
  const up = rest[0]! > '5' || (rest[0] === '5' && !half) || (half && Number(kept.at(-1)) % 2 === 1);
  const digits = BigInt(whole + kept) + (up ? 1n : 0n);
  const text = digits.toString().padStart(4, '0');
  const integer = text.slice(0, -3);
  const decimals = text.slice(-3).replace(/0+$/, '');
  return decimals ? `${integer}.${decimals}` : integer;
}

function formatRanges(text: string): string {
  const ranges = text
    .slice(1, -1)
    .split(',')
    .map((range) => range.split('-').map((bound) => BigInt(bound.trim())) as [bigint, bigint]);
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `[${ranges.map(([begin, end]) => `${begin}-${end}`).join(',')}]`;
}

function formatSet(text: string): string {
  const items = text
    .slice(1, -1)
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  // Java's String order: UTF-16 code units, as JavaScript's default sort.
  return `{${items.sort().join(',')}}`;
}
