// `capstan diff`: what apply would change, per object, as a diff of YAML between the stored object
// and what apply would write (the apply engine's plan, api/apply/ planSet). Exit 0 when nothing would
// change, 1 when something would, 2 on error.
import { Command } from 'commander';
import { stringify } from 'yaml';
import { planSet } from '../api/apply/apply.ts';
import { defaultInventoryName } from '../api/apply/plan.ts';
import type { AnyObject } from '../api/object.ts';
import { collect, type Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { usageError } from './errors.ts';
import { palette } from './io.ts';
import { displayName, loadSet } from './manifests.ts';
import { diffLines, unifiedHunks } from './text-diff.ts';

export interface DiffOptions {
  files: string[];
  inventory?: string;
}

export function diffCommand(act: Act): Command {
  return new Command('diff')
    .description('Show what apply would change: exit 0 no differences, 1 differences, 2 error')
    .option('-f, --filename <path>', 'a manifest file, a directory or - for stdin (Capstan YAML/JSON or Marathon JSON, as apply); repeatable', collect, [])
    .option('--inventory <name>', 'the inventory name apply would use (see apply --help)')
    .action(act(async (ctx, options: { filename: string[]; inventory?: string }) => runDiff(ctx, { files: options.filename, inventory: options.inventory })));
}

export async function runDiff(ctx: CommandContext, options: DiffOptions): Promise<number> {
  if (options.files.length === 0) throw usageError('diff needs at least one -f FILE|DIR|-');
  const inventory = { named: options.inventory, derived: defaultInventoryName(options.files) };
  const session = await ctx.session();
  const set = await loadSet(ctx, { files: options.files, session, storeChecks: true, consequence: 'no diff computed' });
  return printPlan(ctx, await planSet(set, { store: session.store, inventory })) ? 1 : 0;
}

/** Each step that changes something, as a unified diff of YAML; whether there was one (`capstan sync diff` prints the same). */
export function printPlan(ctx: CommandContext, plan: Awaited<ReturnType<typeof planSet>>): boolean {
  const paint = palette(ctx.io.color);
  let different = false;
  for (const { manifest, step } of plan) {
    if (step.action === 'unchanged') continue;
    different = true;
    const before = step.action === 'create' ? [] : yamlLines(step.current);
    const after = yamlLines(step.object);
    const name = displayName(manifest);
    ctx.io.stdout.write(paint.bold(`--- ${name} (${step.action === 'create' ? 'absent' : 'live'})\n+++ ${name} (applied)\n`));
    for (const hunk of unifiedHunks(diffLines(before, after))) {
      ctx.io.stdout.write(paint.cyan('@@\n'));
      for (const line of hunk) {
        const text = `${line.op}${line.text}\n`;
        ctx.io.stdout.write(line.op === '+' ? paint.green(text) : line.op === '-' ? paint.red(text) : text);
      }
    }
  }
  return different;
}

/** The part of an object apply owns, as YAML lines: identity, labels and annotations, spec. */
function yamlLines(object: AnyObject): string[] {
  const { name, namespace, labels, annotations, ownerReferences, finalizers } = object.metadata;
  const metadata = { name, namespace, labels, annotations, ownerReferences, finalizers };
  const view = { apiVersion: object.apiVersion, kind: object.kind, metadata: dropUndefined(metadata), spec: object.spec };
  return stringify(view).trimEnd().split('\n');
}

function dropUndefined<T extends Record<string, unknown>>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Partial<T>;
}
