// `capstan apply`: the apply engine (api/apply/) over files. Validate the whole input, then create or
// update each object, then (with --prune) delete what the same inventory recorded last time and the
// input no longer contains, then record in each inventory touched which objects it now holds. This
// module reads the flags and prints the engine's outcomes.
import { Command } from 'commander';
import { applySet, type ApplySetResult, type ObjectOutcome } from '../api/apply/apply.ts';
import { defaultInventoryName, type InventoryChoice } from '../api/apply/plan.ts';
import { parseSelector } from '../api/labels.ts';
import { checkDnsLabel, DEFAULT_NAMESPACE } from '../api/object.ts';
import { collect, parseDuration, type Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { EXIT, usageError } from './errors.ts';
import { palette, visibleLength, type Paint } from './io.ts';
import { displayName, loadSet } from './manifests.ts';
import { waitForRollouts } from './rollout.ts';

export interface ApplyOptions {
  files: string[];
  dryRun: boolean;
  prune: boolean;
  /** Limits what --prune may delete to objects matching this label selector. */
  selector?: string;
  inventory?: string;
  /** Wait for the rollouts of the Apps applied, showing progress; give up after timeoutMs. */
  wait?: { timeoutMs: number };
}

export type ApplyOutcome = 'created' | 'configured' | 'unchanged' | 'pruned' | 'failed';

const say = {
  inventoryName: (name: string, reason: string) => `--inventory: expected ${reason}, found "${name}"`,
  needFiles: 'apply needs at least one -f FILE|DIR|-',
  pruneSkipped: (reason: string) => `not pruned: ${reason}`,
  otherInventories: (target: string, elsewhere: string[]) =>
    `--prune works within inventory ${target}; these objects of the input belong to another and are outside it ` +
    `(apply with --inventory ${target} to move them): ${elsewhere.join(', ')}`,
  inventoryFailed: (name: string, message: string) =>
    `inventory ${name} was not saved (${message}): the next --prune of it may miss objects of this apply`,
} as const;

export function applyCommand(act: Act): Command {
  return new Command('apply')
    .description(
      'Create or update objects from manifests (Capstan YAML/JSON, or Marathon JSON: an app, an array of apps, a group, a pod); validates everything first and writes nothing if anything is invalid',
    )
    .option('-f, --filename <path>', 'a manifest file, a directory (recursive: *.yaml, *.yml, *.json, sorted) or - for stdin; Marathon JSON becomes Apps (id /prod/web → namespace prod, name web); repeatable', collect, [])
    .option('--dry-run', 'validate and report what would happen, write nothing', false)
    .option(
      '--prune',
      'delete the objects that the inventory (see --inventory) holds and the input no longer contains; ' +
        'only objects still labelled with that inventory and applied by an earlier apply of it, never those of another inventory',
      false,
    )
    .option('-l, --selector <selector>', 'with --prune: only prune objects matching this label selector')
    .option(
      '--inventory <name>',
      'the applied set the objects belong to (label capstan.io/inventory, recorded in etcd), which --prune works within. ' +
        'Given: every object of the input moves to it. Default: an object keeps the inventory it has; a new object, and --prune, ' +
        'use the name derived from the -f paths: sorted, lower-cased, non-alphanumerics as "-" (-f manifests/demo → manifests-demo, -f - → stdin)',
    )
    .option('--wait', "wait for the Apps' rollouts, showing new / old / healthy; exit 1 if one fails, is rolled back or times out", false)
    .option('--timeout <duration>', 'with --wait: give up after this long (90s, 5m, 1h)', '10m')
    .action(
      act(async (ctx, options: { filename: string[]; dryRun: boolean; prune: boolean; selector?: string; inventory?: string; wait: boolean; timeout: string }) =>
        runApply(ctx, {
          files: options.filename,
          dryRun: options.dryRun,
          prune: options.prune,
          selector: options.selector,
          inventory: options.inventory,
          ...(options.wait ? { wait: { timeoutMs: parseDuration(options.timeout) } } : {}),
        }),
      ),
    );
}

export async function runApply(ctx: CommandContext, options: ApplyOptions): Promise<number> {
  if (options.files.length === 0) throw usageError(say.needFiles);
  const inventory = inventoryChoice(options);
  const selector = options.selector !== undefined ? parseSelector(options.selector) : undefined;

  const session = await ctx.session();
  const set = await loadSet(ctx, { files: options.files, session, storeChecks: true, consequence: 'nothing was applied' });
  const result = await applySet(set, {
    store: session.store,
    namespace: ctx.config.namespace,
    inventory,
    dryRun: options.dryRun,
    ...(options.prune ? { prune: { selector } } : {}),
  });
  printResult(ctx, result, { names: set.objects.map(displayName), dryRun: options.dryRun, prune: options.prune });
  if (result.failed) return EXIT.failed;
  if (options.wait && !options.dryRun) {
    const apps = result.objects.flatMap((o) => (o.manifest.kind === 'App' && o.outcome !== 'failed' ? [rolloutOf(o)] : []));
    if (apps.length) return waitForRollouts(ctx, session.store, apps, options.wait.timeoutMs);
  }
  return EXIT.ok;
}

function rolloutOf(outcome: Extract<ObjectOutcome, { object: unknown }>) {
  const { metadata } = outcome.object;
  return { namespace: metadata.namespace ?? DEFAULT_NAMESPACE, name: metadata.name, generation: metadata.generation ?? 0 };
}

/** The engine's outcomes as apply has always printed them: objects, then prune, then inventories. */
function printResult(ctx: CommandContext, result: ApplySetResult, options: { names: string[]; dryRun: boolean; prune: boolean }): void {
  const report = reporter(ctx, options.names, options.dryRun);
  for (const o of result.objects) {
    if (o.outcome === 'failed') report(displayName(o.manifest), 'failed', o.problem);
    else report(displayName(o.manifest), o.outcome);
  }
  const entryName = (entry: { kind: string; name: string }) => displayName({ kind: entry.kind, metadata: entry });
  if (options.prune && result.elsewhere.length > 0) {
    const elsewhere = result.elsewhere.map((p) => `${entryName(p.entry)} (${p.inventory})`);
    ctx.io.stderr.write(`${say.otherInventories(result.inventory, elsewhere)}\n`);
  }
  for (const p of result.pruned) {
    if (p.outcome === 'skipped') ctx.io.stderr.write(`${entryName(p.entry)} ${say.pruneSkipped(p.reason)}\n`);
    else if (p.outcome === 'failed') report(entryName(p.entry), 'failed', p.problem);
    else report(entryName(p.entry), 'pruned');
  }
  for (const { name, problem } of result.unsaved) ctx.io.stderr.write(`${say.inventoryFailed(name, problem)}\n`);
}

/** --inventory, checked, and the name derived from the -f paths. */
function inventoryChoice(options: Pick<ApplyOptions, 'files' | 'inventory'>): InventoryChoice {
  const derived = defaultInventoryName(options.files);
  if (options.inventory === undefined) return { derived };
  const invalidName = checkDnsLabel(options.inventory);
  if (invalidName) throw usageError(say.inventoryName(options.inventory, invalidName));
  return { named: options.inventory, derived };
}

export type Report = (name: string, outcome: ApplyOutcome, detail?: string) => void;

/** `app/web created`: aligned and coloured on a terminal, plain when piped. */
export function reporter(ctx: CommandContext, names: string[], dryRun: boolean): Report {
  const paint = palette(ctx.io.color);
  const width = ctx.io.color ? Math.max(0, ...names.map(visibleLength)) : 0;
  const colours: Record<ApplyOutcome, Paint> = {
    created: paint.green,
    configured: paint.yellow,
    unchanged: paint.dim,
    pruned: paint.cyan,
    failed: paint.red,
  };
  return (name, outcome, detail) => {
    const padded = name + ' '.repeat(Math.max(0, width - visibleLength(name)));
    const suffix = dryRun && outcome !== 'failed' && outcome !== 'unchanged' ? ' (dry run)' : '';
    const line = `${padded} ${colours[outcome](outcome)}${suffix}${detail ? `: ${detail}` : ''}\n`;
    (outcome === 'failed' ? ctx.io.stderr : ctx.io.stdout).write(line);
  };
}
