// `capstan apply`: validate the whole input, then create or update each object, then (with --prune)
// delete what the same inventory recorded last time and the input no longer contains, then record
// in each inventory touched which objects it now holds.
import { Command } from 'commander';
import { mapConcurrently } from '../api/concurrently.ts';
import type { KindDefinition } from '../api/kinds/registry.ts';
import { matches, parseSelector, type Selector } from '../api/labels.ts';
import { checkDnsLabel, DEFAULT_NAMESPACE, type AnyObject } from '../api/object.ts';
import { deepEqual } from '../api/merge.ts';
import { readModifyWrite } from '../api/read-modify-write.ts';
import type { Store } from '../api/store.ts';
import {
  defaultInventoryName,
  INVENTORY_LABEL,
  nextEntries,
  planApply,
  pruneCandidates,
  pruneInventory,
  pruneRefusal,
  type InventoryChoice,
  type InventoryEntry,
  type Placement,
} from './apply-plan.ts';
import { collect, parseDuration, type Act } from './command.ts';
import type { CommandContext, Session } from './context.ts';
import { EXIT, usageError } from './errors.ts';
import { entryOf, readInventory, writeInventory } from './inventory.ts';
import { palette, visibleLength, type Paint } from './io.ts';
import { displayName, loadManifests } from './manifests.ts';
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

const MAX_ATTEMPTS = 5;
/** Writes in flight at once. */
const APPLY_WINDOW = 32;

const identityOf = (o: { kind: string; metadata: { namespace?: string; name: string } }) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Like Promise.allSettled over `items.map(work)`, with at most `limit` calls running at once. */
function settleAll<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  return mapConcurrently(items, limit, (item) =>
    work(item).then(
      (value): PromiseSettledResult<R> => ({ status: 'fulfilled', value }),
      (reason: unknown): PromiseSettledResult<R> => ({ status: 'rejected', reason }),
    ),
  );
}

/**
 * What the store holds for every object of the input, read with one list per kind and namespace
 * instead of one get per object. Objects absent from the list are recorded as absent.
 */
async function prefetch(store: Store, objects: readonly AnyObject[]): Promise<Map<string, { object: AnyObject | undefined }>> {
  const known = new Map<string, { object: AnyObject | undefined }>();
  const groups = new Map<string, { kind: string; namespace?: string }>();
  for (const o of objects) groups.set(`${o.kind}/${o.metadata.namespace ?? ''}`, { kind: o.kind, namespace: o.metadata.namespace });
  for (const { kind, namespace } of groups.values()) {
    const { items } = await store.list(kind, namespace ? { namespace } : {});
    for (const item of items) known.set(identityOf({ ...item, kind }), { object: item });
  }
  for (const o of objects) if (!known.has(identityOf(o))) known.set(identityOf(o), { object: undefined });
  return known;
}

const say = {
  inventoryName: (name: string, reason: string) => `--inventory: expected ${reason}, found "${name}"`,
  needFiles: 'apply needs at least one -f FILE|DIR|-',
  beingDeleted: 'is being deleted; apply again once it is gone',
  pruneSkipped: (reason: string) => `not pruned: ${reason}`,
  otherInventories: (target: string, elsewhere: string[]) =>
    `--prune works within inventory ${target}; these objects of the input belong to another and are outside it ` +
    `(apply with --inventory ${target} to move them): ${elsewhere.join(', ')}`,
  inventoryFailed: (name: string, message: string) =>
    `inventory ${name} was not saved (${message}): the next --prune of it may miss objects of this apply`,
} as const;

export function applyCommand(act: Act): Command {
  return new Command('apply')
    .description('Create or update objects from manifests; validates everything first and writes nothing if anything is invalid')
    .option('-f, --filename <path>', 'a manifest file, a directory (recursive: *.yaml, *.yml, *.json, sorted) or - for stdin; repeatable', collect, [])
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
  const choice = inventoryChoice(options);
  const pruneSelector = options.selector !== undefined ? parseSelector(options.selector) : undefined;

  const session = await ctx.session();
  const objects = await loadManifests(ctx, { files: options.files, session, storeChecks: true, consequence: 'nothing was applied' });
  const report = reporter(ctx, [...objects.map(displayName)], options.dryRun);
  const namespace = ctx.config.namespace;
  const target = pruneInventory(choice);
  const previous = (await readInventory(session.client, namespace, target))?.entries ?? [];

  let failed = false;
  const placements: Placement[] = [];
  const current = await prefetch(session.store, objects);
  // Kinds first (a CustomKind before its objects), then everything else with up to APPLY_WINDOW
  // writes in flight: they are independent conditional transactions, so overlapping their round
  // trips is safe. Reports still come out in input order.
  const kinds = objects.filter((o) => o.kind === 'CustomKind');
  const rest = objects.filter((o) => o.kind !== 'CustomKind');
  const applyEach = (manifest: AnyObject) =>
    applyOne(session.store, session.registry.get(manifest.kind), manifest, { inventory: choice, dryRun: options.dryRun, prefetched: current.get(identityOf(manifest)) });
  const results = [...(await settleAll(kinds, 1, applyEach)), ...(await settleAll(rest, APPLY_WINDOW, applyEach))];
  [...kinds, ...rest].forEach((manifest, index) => {
    const result = results[index]!;
    if (result.status === 'fulfilled') {
      report(displayName(manifest), result.value.outcome);
      const inventory = result.value.object.metadata.labels?.[INVENTORY_LABEL] ?? target;
      placements.push({ entry: entryOf(result.value.object), inventory });
    } else {
      failed = true;
      report(displayName(manifest), 'failed', result.reason instanceof Error ? result.reason.message : String(result.reason));
    }
  });

  const elsewhere = placements.filter((p) => p.inventory !== target).map((p) => `${displayName({ kind: p.entry.kind, metadata: p.entry })} (${p.inventory})`);
  if (options.prune && elsewhere.length > 0) ctx.io.stderr.write(`${say.otherInventories(target, elsewhere)}\n`);

  const appliedRefs = objects.map((o) => ({ kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name }));
  const leftover = pruneCandidates(previous, appliedRefs);
  const kept = options.prune
    ? await prune(ctx, session, { leftover, inventory: target, selector: pruneSelector, dryRun: options.dryRun, report, onFailure: () => (failed = true) })
    : leftover;

  if (!options.dryRun) {
    // The inventories the objects were in before this apply: one they moved out of keeps no entry.
    const before = [...current.values()].flatMap(({ object }) => object?.metadata.labels?.[INVENTORY_LABEL] ?? []);
    const dropped = leftover.filter((entry) => !kept.includes(entry));
    const saved = await recordInventories(ctx, session, { namespace, target, previous, dropped, placements, names: [target, ...before] });
    if (!saved) failed = true;
  }
  if (failed) return EXIT.failed;
  if (options.wait && !options.dryRun) {
    const apps = results.flatMap((result, index) => {
      const manifest = [...kinds, ...rest][index]!;
      if (manifest.kind !== 'App' || result.status !== 'fulfilled') return [];
      const { metadata } = result.value.object;
      return [{ namespace: metadata.namespace ?? DEFAULT_NAMESPACE, name: metadata.name, generation: metadata.generation ?? 0 }];
    });
    if (apps.length) return waitForRollouts(ctx, session.store, apps, options.wait.timeoutMs);
  }
  return EXIT.ok;
}

interface RecordOptions {
  namespace: string;
  /** The inventory --prune worked within, its entries as read before, and those it dropped. */
  target: string;
  previous: InventoryEntry[];
  dropped: InventoryEntry[];
  placements: Placement[];
  /** Inventories to bring up to date besides those the placements name. */
  names: string[];
}

/** Writes what each inventory the apply touched now holds; false when one could not be saved. */
async function recordInventories(ctx: CommandContext, session: Session, options: RecordOptions): Promise<boolean> {
  const { namespace, target } = options;
  let saved = true;
  for (const name of new Set([...options.names, ...options.placements.map((p) => p.inventory)])) {
    try {
      const entries = name === target ? options.previous : ((await readInventory(session.client, namespace, name))?.entries ?? []);
      const next = nextEntries(name, entries, options.placements, name === target ? options.dropped : []);
      // An inventory is rewritten only when its entries change: an unchanged apply writes nothing.
      if (!deepEqual(next, entries)) await writeInventory(session.client, { name, namespace, entries: next, updated: new Date().toISOString() });
    } catch (error) {
      saved = false;
      ctx.io.stderr.write(`${say.inventoryFailed(name, error instanceof Error ? error.message : String(error))}\n`);
    }
  }
  return saved;
}

/** --inventory, checked, and the name derived from the -f paths. */
function inventoryChoice(options: Pick<ApplyOptions, 'files' | 'inventory'>): InventoryChoice {
  const derived = defaultInventoryName(options.files);
  if (options.inventory === undefined) return { derived };
  const invalidName = checkDnsLabel(options.inventory);
  if (invalidName) throw usageError(say.inventoryName(options.inventory, invalidName));
  return { named: options.inventory, derived };
}

/**
 * Creates or updates one object, re-reading and re-planning on a lost race: a conflict means someone
 * wrote in between, and the merge must be computed again from what they wrote.
 */
async function applyOne(
  store: Store,
  definition: KindDefinition,
  manifest: AnyObject,
  options: { inventory: InventoryChoice; dryRun: boolean; prefetched: { object: AnyObject | undefined } | undefined },
): Promise<{ outcome: ApplyOutcome; object: AnyObject }> {
  const { dryRun, prefetched } = options;
  const plan = (current: AnyObject | undefined) => {
    if (current?.metadata.deletionTimestamp) throw new Error(say.beingDeleted);
    return planApply(definition, manifest, current, options.inventory);
  };
  const ref = { namespace: manifest.metadata.namespace, name: manifest.metadata.name };
  if (dryRun) {
    const step = plan(prefetched ? prefetched.object : await store.get(definition.kind, ref));
    if (step.action === 'unchanged') return { outcome: 'unchanged', object: step.current };
    return { outcome: step.action === 'create' ? 'created' : 'configured', object: step.object };
  }
  // The first attempt plans from the prefetched list; a lost race re-reads.
  const result = await readModifyWrite<AnyObject>({
    store,
    kind: definition.kind,
    ref,
    from: prefetched,
    write: 'createOrUpdate',
    change: (current) => {
      const step = plan(current);
      return step.action === 'unchanged' ? undefined : step.object;
    },
    attempts: MAX_ATTEMPTS,
  });
  switch (result.outcome) {
    case 'created':
      return { outcome: 'created', object: result.object };
    case 'updated':
      return { outcome: 'configured', object: result.object };
    case 'unchanged':
      return { outcome: 'unchanged', object: result.object };
    case 'gone':
      // A bug: planApply plans a create for whatever is absent, so there is always something to write.
      throw new Error(`apply: nothing planned for absent ${definition.kind} ${ref.name}`);
  }
}

interface PruneOptions {
  leftover: InventoryEntry[];
  inventory: string;
  selector: Selector | undefined;
  dryRun: boolean;
  report: Report;
  onFailure(): void;
}

/** Deletes the leftovers that are still this set's; returns the entries the inventory must keep. */
async function prune(ctx: CommandContext, session: Session, options: PruneOptions): Promise<InventoryEntry[]> {
  const kept: InventoryEntry[] = [];
  for (const entry of options.leftover) {
    const name = displayName({ kind: entry.kind, metadata: entry });
    if (!session.registry.find(entry.kind)) {
      kept.push(entry); // its kind is gone from the registry: keep it listed, a later prune may see it
      continue;
    }
    try {
      const current = await session.store.get(entry.kind, entry);
      const refusal = pruneRefusal(entry, current, options.inventory);
      if (refusal) {
        if (current) ctx.io.stderr.write(`${name} ${say.pruneSkipped(refusal)}\n`);
        continue;
      }
      if (options.selector && !matches(options.selector, current!.metadata.labels)) {
        kept.push(entry);
        continue;
      }
      if (!options.dryRun) await session.store.delete(entry.kind, entry, { resourceVersion: current!.metadata.resourceVersion });
      options.report(name, 'pruned');
    } catch (error) {
      kept.push(entry);
      options.onFailure();
      options.report(name, 'failed', error instanceof Error ? error.message : String(error));
    }
  }
  return kept;
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
