// `capstan patch KIND NAME -p PATCH [--type merge] [--dry-run]`: an RFC 7386 JSON merge patch
// (cli/merge-patch.ts), given as JSON or YAML, applied to the stored object and validated as apply
// validates a manifest, problems located in the patch text. A merge patch is a function of the object
// it applies to, so a write that loses a race is simply patched again on a fresh read, as kubectl's
// server-side patch behaves.
import { Command, Option } from 'commander';
import { isStoreError } from '../api/errors.ts';
import { formatProblem, parseManifests, type ManifestDocument, type Problem } from '../api/manifest.ts';
import type { AnyObject } from '../api/object.ts';
import type { Act } from './command.ts';
import type { CommandContext, Session } from './context.ts';
import { CliError, EXIT, usageError } from './errors.ts';
import { palette } from './io.ts';
import { displayName } from './manifests.ts';
import { mergePatch } from './merge-patch.ts';
import { checkEdited, editable, editedUpdate, readTarget } from './object-edit.ts';

export interface PatchOptions {
  kind: string;
  name?: string;
  patch: string;
  dryRun: boolean;
}

const MAX_ATTEMPTS = 5;
const PATCH_FILE = '-p';

const say = {
  needPatch: 'patch needs -p PATCH: a JSON merge patch such as \'{"spec":{"instances":3}}\' (YAML works too)',
  notObject: 'a JSON merge patch: an object such as {"spec":{"instances":3}}',
  patched: (name: string, detail: string) => `${name} patched${detail}`,
  noChange: ' (no change)',
  dryRun: ' (dry run)',
  invalid: (count: number, name: string) => `${count} problem${count === 1 ? '' : 's'} in ${name} as patched: nothing was written`,
  raced: (name: string, attempts: number) => `${name} kept changing while it was patched (${attempts} attempts): nothing was written; try again`,
  gone: (name: string) => `${name} was deleted while it was patched: nothing was written`,
} as const;

export function patchCommand(act: Act): Command {
  return new Command('patch')
    .description('Change fields of one object with a JSON merge patch (RFC 7386); validated as apply validates')
    .argument('<kind>', 'kind, plural or short name (or kind/name)')
    .argument('[name]', 'the object')
    .requiredOption('-p, --patch <patch>', 'the patch, JSON or YAML: null removes a field, arrays replace whole')
    .addOption(new Option('--type <type>', 'the patch type').choices(['merge']).default('merge'))
    .option('--dry-run', 'validate and print the result, write nothing', false)
    .action(
      act(async (ctx, kind: string, name: string | undefined, options: { patch: string; dryRun: boolean }) =>
        runPatch(ctx, { kind, name, patch: options.patch, dryRun: options.dryRun }),
      ),
    );
}

export async function runPatch(ctx: CommandContext, options: PatchOptions): Promise<number> {
  if (options.patch.trim() === '') throw usageError(say.needPatch);
  const parsedPatch = parsePatch(options.patch);
  const session = await ctx.session();
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
    const { object: current } = await readTarget(ctx, session, 'patch', options.kind, options.name);
    const name = displayName(current);
    const patched = await patchOnce(session, current, parsedPatch);
    if ('problems' in patched) {
      const paint = palette(ctx.io.color);
      for (const problem of patched.problems) ctx.io.stderr.write(`${paint.red(formatProblem(problem))}\n`);
      throw new CliError(say.invalid(patched.problems.length, name));
    }
    if (!patched.update) {
      ctx.io.stdout.write(`${say.patched(name, say.noChange)}\n`);
      return EXIT.ok;
    }
    if (options.dryRun) {
      ctx.io.stdout.write(`${say.patched(name, say.dryRun)}\n`);
      return EXIT.ok;
    }
    try {
      await session.store.update(patched.update);
      ctx.io.stdout.write(`${say.patched(name, '')}\n`);
      return EXIT.ok;
    } catch (error) {
      if (isStoreError(error, 'NotFound')) throw new CliError(say.gone(name));
      if (!isStoreError(error, 'Conflict')) throw error;
      // Someone wrote in between: patch their version.
    }
  }
  throw new CliError(say.raced(`${options.kind}/${options.name ?? ''}`, MAX_ATTEMPTS));
}

interface ParsedPatch {
  document?: ManifestDocument;
  problems: Problem[];
}

/** The patch text as one document, or the problems of its syntax (reported with the object's). */
function parsePatch(text: string): ParsedPatch {
  const { documents, problems } = parseManifests(text, PATCH_FILE);
  if (problems.length > 0) return { problems };
  const document = documents[0];
  const value = document?.value;
  if (documents.length !== 1 || typeof value !== 'object' || value === null || Array.isArray(value)) {
    const found = documents.length > 1 ? `${documents.length} documents` : JSON.stringify(value ?? null);
    throw usageError(`-p: expected ${say.notObject}, found ${found}`);
  }
  return { document, problems: [] };
}

async function patchOnce(session: Session, current: AnyObject, patch: ParsedPatch): Promise<{ update: AnyObject | undefined } | { problems: Problem[] }> {
  if (!patch.document) return { problems: patch.problems };
  // Problems are located in the patch: where the person wrote the field (or its nearest parent).
  const document: ManifestDocument = { ...patch.document, value: mergePatch(editable(current), patch.document.value) };
  const checked = await checkEdited(session, current, [document], []);
  if (!checked.ok) return { problems: checked.problems };
  return { update: editedUpdate(current, checked.object) };
}
