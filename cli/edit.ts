// `capstan edit KIND NAME`: the object's YAML in the user's editor (CAPSTAN_EDITOR, EDITOR, VISUAL,
// then vi: cli/config.ts), validated on save as apply validates (every problem with line and
// column), and, as kubectl edit does, re-opened with the problems as `#` comments at the top until it
// is valid, cancelled, or saved again unchanged. An unchanged or emptied file cancels (exit 0).
//
// Status is dropped before the file is opened, not ignored on save: controllers own it and write it
// on its own key, so a status that looked editable would be a change silently thrown away.
//
// The write is conditioned on the object as it was read before the editor opened: if someone else
// wrote it meanwhile, nothing is saved and the edited file is kept for the person to re-apply,
// rather than the edit overwriting (or being merged into) a version the person never saw.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { isStoreError } from '../api/errors.ts';
import { formatProblem, parseManifests, type Problem } from '../api/manifest.ts';
import type { AnyObject } from '../api/object.ts';
import type { Act } from './command.ts';
import type { CommandContext, Session } from './context.ts';
import { CliError, EXIT } from './errors.ts';
import { palette } from './io.ts';
import { displayName } from './manifests.ts';
import { checkEdited, editable, editedUpdate, readTarget } from './object-edit.ts';

export interface EditOptions {
  kind: string;
  name?: string;
}

const say = {
  header: [
    'Please edit the object below. The comment lines at the top are ignored, and an empty file',
    'cancels the edit. If the object is not valid, this file is re-opened with the problems here.',
    'status is not shown: the controllers write it, so a change to it would be lost.',
  ],
  problems: (name: string, count: number) => `${name} was not saved, ${count} problem${count === 1 ? '' : 's'}:`,
  cancelled: 'Edit cancelled, no changes made.',
  noValidChanges: (name: string, file: string) => `Edit cancelled, no valid changes were saved: ${name} is as it was; your edit is kept in ${file}`,
  edited: (name: string) => `${name} edited`,
  editorFailed: (editor: string, how: string, file: string) => `the editor (${editor}) ${how}: nothing was saved; your edit, if any, is kept in ${file}`,
  conflict: (name: string, file: string, command: string) =>
    `${name} was changed by someone else while you edited it: nothing was saved. Your edit is kept in ${file}; ` +
    `run \`${command}\` to see the new version and make your change again (or \`capstan apply -f ${file}\` to overwrite theirs)`,
  gone: (name: string, file: string) => `${name} was deleted while you edited it: nothing was saved; your edit is kept in ${file}`,
} as const;

export function editCommand(act: Act): Command {
  return new Command('edit')
    .description('Edit one object in $EDITOR (CAPSTAN_EDITOR, EDITOR, VISUAL, vi); validated on save, re-opened with the problems')
    .argument('<kind>', 'kind, plural or short name (or kind/name)')
    .argument('[name]', 'the object')
    .action(act(async (ctx, kind: string, name: string | undefined) => runEdit(ctx, { kind, name })));
}

export async function runEdit(ctx: CommandContext, options: EditOptions): Promise<number> {
  const session = await ctx.session();
  const { object: original } = await readTarget(ctx, session, 'edit', options.kind, options.name);
  const name = displayName(original);
  const dir = mkdtempSync(join(tmpdir(), 'capstan-edit-'));
  const file = join(dir, `${original.kind.toLowerCase()}-${original.metadata.name}.yaml`);
  const shown = stringify(editable(original));
  let body = shown;
  let problems: Problem[] = [];
  for (;;) {
    writeFileSync(file, withHeader(body, name, problems, basename(file)));
    await runEditor(ctx.config.editor, file);
    const saved = withoutHeader(readFileSync(file, 'utf8'));
    if (saved.trim() === '' || (problems.length === 0 && saved === shown)) {
      rmSync(dir, { recursive: true, force: true });
      ctx.io.stdout.write(`${say.cancelled}\n`);
      return EXIT.ok;
    }
    if (problems.length > 0 && saved === body) {
      // Saved again without a change after being shown the problems: kubectl gives up here too.
      reportProblems(ctx, relocated(problems, headerLines(problems.length), file));
      throw new CliError(say.noValidChanges(name, file));
    }
    body = saved;
    const outcome = await save(session, original, body, basename(file));
    if (outcome.kind === 'invalid') {
      problems = outcome.problems;
      continue;
    }
    if (outcome.kind === 'unchanged') {
      rmSync(dir, { recursive: true, force: true });
      ctx.io.stdout.write(`${say.cancelled}\n`);
      return EXIT.ok;
    }
    if (outcome.kind === 'conflict') throw new CliError(say.conflict(name, file, `capstan get ${original.kind.toLowerCase()} ${original.metadata.name} -o yaml`));
    if (outcome.kind === 'gone') throw new CliError(say.gone(name, file));
    rmSync(dir, { recursive: true, force: true });
    ctx.io.stdout.write(`${say.edited(name)}\n`);
    return EXIT.ok;
  }
}

type SaveOutcome = { kind: 'invalid'; problems: Problem[] } | { kind: 'unchanged' | 'saved' | 'conflict' | 'gone' };

/** Validates the edited text and writes it on condition that the object is still as it was read. */
async function save(session: Session, original: AnyObject, text: string, file: string): Promise<SaveOutcome> {
  const parsed = parseManifests(text, file);
  const checked = await checkEdited(session, original, parsed.documents, parsed.problems);
  if (!checked.ok) return { kind: 'invalid', problems: checked.problems };
  const update = editedUpdate(original, checked.object);
  if (!update) return { kind: 'unchanged' };
  try {
    await session.store.update(update);
    return { kind: 'saved' };
  } catch (error) {
    if (isStoreError(error, 'Conflict')) return { kind: 'conflict' };
    if (isStoreError(error, 'NotFound')) return { kind: 'gone' };
    throw error;
  }
}

/** `sh -c '$EDITOR "$1"'`, so that an editor with arguments ("code --wait") works as in a shell. */
async function runEditor(editor: string, file: string): Promise<void> {
  const child = spawn('/bin/sh', ['-c', `${editor} "$1"`, 'capstan-edit', file], { stdio: 'inherit' });
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  if (exit.code === 0) return;
  throw new CliError(say.editorFailed(editor, exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`, file));
}

/** The header's length with `count` problems listed: what the problems' line numbers are shifted by. */
function headerLines(count: number): number {
  return say.header.length + 1 + (count > 0 ? count + 2 : 0);
}

function withHeader(body: string, name: string, problems: readonly Problem[], file: string): string {
  const lines = [...say.header, ''];
  if (problems.length > 0) {
    lines.push(say.problems(name, problems.length));
    // Positions as in the file being shown, header included.
    for (const problem of relocated(problems, headerLines(problems.length), file)) lines.push(formatProblem(problem));
    lines.push('');
  }
  return `${lines.map((line) => (line ? `# ${line}` : '#')).join('\n')}\n${body}`;
}

function relocated(problems: readonly Problem[], offset: number, file: string): Problem[] {
  return problems.map((problem) => ({ ...problem, file, line: problem.line + offset }));
}

/** The text after the leading comment lines (the header, or what is left of it). */
function withoutHeader(text: string): string {
  const lines = text.split('\n');
  let first = 0;
  while (first < lines.length && lines[first]!.trimStart().startsWith('#')) first += 1;
  return lines.slice(first).join('\n');
}

function reportProblems(ctx: CommandContext, problems: readonly Problem[]): void {
  const paint = palette(ctx.io.color);
  for (const problem of problems) ctx.io.stderr.write(`${paint.red(formatProblem(problem))}\n`);
}
