// Kubernetes label selectors: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`,
// comma-separated and all required.

export type Requirement =
  | { key: string; op: 'in'; values: string[] }
  | { key: string; op: 'notin'; values: string[] }
  | { key: string; op: 'exists' }
  | { key: string; op: 'doesnotexist' };

export type Selector = Requirement[];

export class SelectorError extends Error {
  override readonly name = 'SelectorError';
}

export function parseSelector(text: string): Selector {
  const requirements: Selector = [];
  for (const part of splitTopLevel(text)) {
    requirements.push(parseRequirement(part));
  }
  return requirements;
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter(Boolean);
}

function parseRequirement(part: string): Requirement {
  const set = /^([\w./-]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
  if (set) {
    const values = set[3]!.split(',').map((v) => v.trim()).filter(Boolean);
    return { key: set[1]!, op: set[2] as 'in' | 'notin', values };
  }
  const equality = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(part);
  if (equality) {
    const op = equality[2] === '!=' ? 'notin' : 'in';
    return { key: equality[1]!, op, values: [equality[3]!] };
  }
  const absent = /^!\s*([\w./-]+)$/.exec(part);
  if (absent) return { key: absent[1]!, op: 'doesnotexist' };
  if (/^[\w./-]+$/.test(part)) return { key: part, op: 'exists' };
  throw new SelectorError(`invalid label selector "${part}": expected key=value, key!=value, key in (a,b), key notin (a), key or !key`);
}

export function matches(selector: Selector, labels: Readonly<Record<string, string>> | undefined): boolean {
  return selector.every((requirement) => {
    const value = labels?.[requirement.key];
    switch (requirement.op) {
      case 'in':
        return value !== undefined && requirement.values.includes(value);
      case 'notin':
        return value === undefined || !requirement.values.includes(value);
      case 'exists':
        return value !== undefined;
      case 'doesnotexist':
        return value === undefined;
    }
  });
}
