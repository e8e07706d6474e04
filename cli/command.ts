// What every subcommand is built from: the `Act` wrapper program.ts hands it, and the argument
// parsers and messages that several subcommands share. Subcommands import these from here, never
// from program.ts or from each other, so program.ts only wires them.
import type { KindDefinition } from '../api/kinds/registry.ts';
import type { CommandContext } from './context.ts';
import { usageError } from './errors.ts';

/** Wraps a command's handler: builds its context and records its exit code. */
export type Act = <A extends unknown[]>(handler: (ctx: CommandContext, ...args: A) => Promise<number>) => (...args: A) => Promise<void>;

const say = {
  duration: (flag: string, value: string) => `${flag}: expected a duration such as 90s, 5m or 1h (a bare number is seconds), found "${value}"`,
  positiveInteger: (flag: string, value: string) => `${flag}: expected a positive integer, found "${value}"`,
  kindNameTwice: (kind: string, name: string) => `give either KIND/NAME or KIND NAME, not both ("${kind}" and "${name}")`,
} as const;

/** `get` and `describe` name a missing object the same way. */
export const objectNotFound = (definition: KindDefinition, name: string, namespace: string | undefined) =>
  `${definition.singular} "${name}" not found${namespace ? ` in namespace "${namespace}"` : ''}`;

/** A repeatable option's parser (`-f a -f b`): the values in order. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `app/web` is `app web`, as in kubectl. */
export function splitKindName(kind: string, name: string | undefined): [string, string | undefined] {
  const slash = kind.indexOf('/');
  if (slash < 0) return [kind, name];
  if (name !== undefined) throw usageError(say.kindNameTwice(kind, name));
  return [kind.slice(0, slash), kind.slice(slash + 1)];
}

/** `--timeout`: 90s, 5m, 1h, 1500ms, or a bare number of seconds; in milliseconds. */
export function parseDuration(value: string, flag = '--timeout'): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) throw usageError(say.duration(flag, value));
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

/** A commander parser for a flag that takes a positive integer. */
export function positiveInteger(flag: string): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number <= 0) throw usageError(say.positiveInteger(flag, value));
    return number;
  };
}
