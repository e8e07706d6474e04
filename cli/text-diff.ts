// A line diff (longest common subsequence) rendered as unified hunks with three lines of context.
// Objects are small, so the quadratic table is fine and keeps this obvious.

export type DiffLine = { op: ' ' | '-' | '+'; text: string };

export function diffLines(before: string[], after: string[]): DiffLine[] {
  const n = before.length;
  const m = after.length;
  const common: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      common[i]![j] = before[i] === after[j] ? common[i + 1]![j + 1]! + 1 : Math.max(common[i + 1]![j]!, common[i]![j + 1]!);
    }
  }
  const lines: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && before[i] === after[j]) {
      lines.push({ op: ' ', text: before[i]! });
      i += 1;
      j += 1;
    } else if (i < n && (j >= m || common[i + 1]![j]! >= common[i]![j + 1]!)) {
      // Removals before additions, as diff(1) prints them.
      lines.push({ op: '-', text: before[i]! });
      i += 1;
    } else {
      lines.push({ op: '+', text: after[j]! });
      j += 1;
    }
  }
  return lines;
}

/** Hunks of changed lines with `context` unchanged lines around them; empty when nothing changed. */
export function unifiedHunks(lines: DiffLine[], context = 3): DiffLine[][] {
  const changed = lines.flatMap((line, index) => (line.op === ' ' ? [] : [index]));
  const hunks: DiffLine[][] = [];
  let start = -1;
  let end = -1;
  for (const index of changed) {
    if (start >= 0 && index - context <= end + 1) {
      end = Math.min(lines.length - 1, index + context);
      continue;
    }
    if (start >= 0) hunks.push(lines.slice(start, end + 1));
    start = Math.max(0, index - context);
    end = Math.min(lines.length - 1, index + context);
  }
  if (start >= 0) hunks.push(lines.slice(start, end + 1));
  return hunks;
}
