// What a translation of Marathon JSON reports, and where each Capstan field came from. A problem's
// path is the Marathon document's (from its root: `options.path` + the field), so `capstan apply`
// can point at the JSON line and the API can answer Marathon's 422 `details[].path`.
export type Path = (string | number)[];

export interface MarathonProblem {
  path: Path;
  expected: string;
  found: string;
}

/**
 * A translation in progress: the problems found so far, and for each Capstan path written the
 * Marathon path it was read from, so a problem the App's schema finds later (at `spec.containers.0.cmd`)
 * can be shown at the Marathon field (`cmd`).
 */
export class Translation {
  readonly problems: MarathonProblem[] = [];
  private readonly origins = new Map<string, Path>();

  constructor(readonly base: Path) {}

  /** The Marathon path of `field` (relative to the document being translated). */
  at(...field: Path): Path {
    return [...this.base, ...field];
  }

  problem(field: Path, expected: string, value: unknown): void {
    this.problems.push({ path: this.at(...field), expected, found: describe(value) });
  }

  /** Records that the Capstan `target` (from the object's root) was read from the Marathon `field`. */
  from(target: Path, field: Path): void {
    this.origins.set(keyOf(target), this.at(...field));
  }

  /**
   * The Marathon path a Capstan path came from: that of the longest recorded prefix, or undefined
   * (the caller falls back to the app's id).
   */
  readonly origin = (target: readonly (string | number)[]): Path | undefined => {
    for (let length = target.length; length > 0; length--) {
      const found = this.origins.get(keyOf(target.slice(0, length)));
      if (found) return found;
    }
    return undefined;
  };
}

function keyOf(path: readonly (string | number)[]): string {
  return path.map(String).join('\u0000');
}

/** A value as a problem's `found`: short JSON, strings quoted, long values cut. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Empty, null or absent: what Marathon returns for a feature not in use. */
export function isUnset(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (isRecord(value)) return Object.keys(value).length === 0;
  return false;
}
