// `capstan delete`: by name or by the objects of manifests.
//
// Without flags the object goes at once (or is marked, when it has finalizers) and the gc controller
// removes its dependents afterwards: Kubernetes' background deletion. `--wait` deletes in the
// foreground (propagationPolicy=Foreground: the object stays, marked, until the gc controller has
// removed its dependents, and those until theirs, so an App outlives its Revisions and Tasks, and a
// Task until its agent stopped the workload) and waits until the object is gone. Foreground rather
// than the CLI waiting on dependents it lists itself: the object shows it is being deleted to every
// other client (`get`), and the cluster finishes the work whether or not this command still waits.
//
// `--force` removes the finalizers of the object and of every dependent (by ownerReferences) and
// deletes them, without waiting for the controllers and agents that hold them, and warns which
// workloads may still run.
//
// A Volume (a resident App's data) has no owner, so deleting its App keeps it, and this says which
// are kept; `--wipe` deletes them with the App. Deleting a Volume marks it: the agent of its node
// removes the directory, then the finalizer (`--wait` waits for that).
import { Command } from 'commander';
import { AGENT_FINALIZER } from '../api/kinds/wellknown.ts';
import { removeNodeTaskIndexEntry } from '../api/node-index.ts';
import { DEFAULT_NAMESPACE, type AnyObject } from '../api/object.ts';
import { readModifyWrite } from '../api/read-modify-write.ts';
import type { Store } from '../api/store.ts';
import { markedLine, volumesOf, wipe, type VolumeObject } from './app-volumes.ts';
import { collect, parseDuration, type Act } from './command.ts';
import type { CommandContext } from './context.ts';
import { CliError, EXIT, usageError } from './errors.ts';
import { palette } from './io.ts';
import { displayName, loadManifests } from './manifests.ts';

export interface DeleteOptions {
  files: string[];
  kind?: string;
  names: string[];
  /** Delete in the foreground and wait until the objects and their dependents are gone. */
  wait: boolean;
  /** Remove finalizers (the objects' and their dependents') instead of waiting for them. */
  force: boolean;
  /** With wait: give up after this long. */
  timeoutMs: number;
  /** Deleting an App: delete its Volumes (and their data) too. */
  wipe?: boolean;
}

interface Target {
  kind: string;
  namespace?: string;
  name: string;
}

/** A dependent found by following ownerReferences down from a target. */
interface Found {
  kind: string;
  object: AnyObject;
}

/** Events carry no ownerReferences and expire by themselves: never dependents worth listing. */
const NOT_DEPENDENTS = new Set(['Event']);
const POLL_MS = 100;

const say = {
  deleted: 'deleted',
  forced: 'deleted (finalizers removed)',
  marked: 'marked for deletion (waiting for finalizers)',
  notFound: 'not found',
  needTarget: 'delete needs -f FILE|DIR|- or KIND NAME...',
  notBoth: 'give either -f or KIND NAME..., not both',
  needName: (kind: string) => `delete ${kind} needs at least one NAME`,
  wipeApps: (kind: string) => `--wipe deletes the volumes of Apps, found kind "${kind}": capstan delete app NAME... --wipe`,
  kept: (app: string, namespace: string, volumes: readonly VolumeObject[]) => {
    const names = volumes.map((v) => v.metadata.name);
    const flag = namespace === DEFAULT_NAMESPACE ? '' : ` -n ${namespace}`;
    return `app/${app}: its volumes are kept with their data: ${names.join(', ')}. To delete them: capstan${flag} delete volume ${names.join(' ')} (or delete the App with --wipe)`;
  },
  timeout: (name: string, after: string, waiting: string[]) =>
    `${name} still exists after ${after}, waiting for ${waiting.length > 0 ? waiting.join('; ') : 'its finalizers'}. ` +
    'Are the controllers running (capstan controllers, or capstan up) and the nodes of those tasks up? ' +
    'Wait longer with --timeout, or remove the finalizers with --force (their workloads may keep running).',
  holds: (object: Found) => {
    const node = (object.object.spec as { nodeName?: string } | undefined)?.nodeName;
    const finalizers = object.object.metadata.finalizers ?? [];
    const what = [finalizers.length > 0 ? `finalizers ${finalizers.join(', ')}` : '', node ? `on node ${node}` : ''].filter(Boolean).join(', ');
    return `${displayName({ kind: object.kind, metadata: object.object.metadata })}${what ? ` (${what})` : ''}`;
  },
  removedFinalizers: (name: string, removed: string[]) => `warning: ${name}: removed finalizers without waiting for their owners: ${removed.join('; ')}`,
  mayRun: (tasks: string[]) =>
    `warning: these workloads may still be running, until their node's agent sees the task gone and stops it (an agent that is down does so when it comes back): ${tasks.join(', ')}`,
  stillRunning: (task: AnyObject) => {
    const spec = task.spec as { nodeName?: string };
    const phase = (task.status as { phase?: string } | undefined)?.phase ?? 'Pending';
    return `task ${task.metadata.name} on node ${spec.nodeName} (${phase})`;
  },
} as const;

export function deleteCommand(act: Act): Command {
  return new Command('delete')
    .description('Delete objects by KIND NAME... or those of manifests (-f); a missing named object is an error, a missing -f object is reported')
    .argument('[kind]', 'kind, plural or short name (or kind/name)')
    .argument('[names...]', 'names')
    .option('-f, --filename <path>', 'delete the objects of these manifests (Capstan YAML/JSON or Marathon JSON, as apply); repeatable', collect, [])
    .option('--wait', 'delete in the foreground (dependents first, as propagationPolicy=Foreground) and wait until the objects and their tasks are gone', false)
    .option('--force', 'remove the finalizers of the objects and their dependents instead of waiting for them (warns which workloads may still run)', false)
    .option('--timeout <duration>', 'with --wait: give up after this long (30s, 2m; a bare number is seconds)', '60s')
    .option('--wipe', 'deleting Apps: delete their volumes and the data on them too (kept otherwise)', false)
    .action(
      act(async (ctx, kind: string | undefined, names: string[], options: { filename: string[]; wait: boolean; force: boolean; timeout: string; wipe: boolean }) => {
        let resolvedKind = kind;
        let resolvedNames = names;
        if (kind?.includes('/')) {
          resolvedKind = kind.slice(0, kind.indexOf('/'));
          resolvedNames = [kind.slice(kind.indexOf('/') + 1), ...names];
        }
        const timeoutMs = parseDuration(options.timeout);
        return runDelete(ctx, { files: options.filename, kind: resolvedKind, names: resolvedNames, wait: options.wait, force: options.force, timeoutMs, wipe: options.wipe });
      }),
    );
}

export async function runDelete(ctx: CommandContext, options: DeleteOptions): Promise<number> {
  if (options.files.length > 0 && options.kind !== undefined) throw usageError(say.notBoth);
  if (options.files.length === 0 && options.kind === undefined) throw usageError(say.needTarget);
  if (options.kind !== undefined && options.names.length === 0) throw usageError(say.needName(options.kind));
  const session = await ctx.session();
  const fromFiles = options.files.length > 0;
  let targets: Target[];
  if (fromFiles) {
    const objects = await loadManifests(ctx, { files: options.files, session, storeChecks: false, consequence: 'nothing was deleted' });
    // Objects of a kind go before the CustomKind that defines it.
    targets = objects.reverse().map((o) => ({ kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name }));
  } else {
    const definition = session.registry.get(options.kind!);
    const namespace = definition.namespaced ? ctx.config.namespace : undefined;
    targets = options.names.map((name) => ({ kind: definition.kind, namespace, name }));
    if (options.wipe && definition.kind !== 'App') throw usageError(say.wipeApps(definition.kind));
  }

  const paint = palette(ctx.io.color);
  let failed = false;
  const pending: Target[] = [];
  /** Apps deleted or marked: their Volumes are kept, or wiped, after the loop. */
  const apps: Target[] = [];
  for (const target of targets) {
    const name = displayName({ kind: target.kind, metadata: target });
    try {
      if (options.force) {
        const forced = await forceDelete(session.store, target);
        if (!forced) {
          ctx.io.stderr.write(`${name} ${say.notFound}\n`);
          if (!fromFiles) failed = true;
          continue;
        }
        ctx.io.stdout.write(`${name} ${paint.red(say.forced)}\n`);
        if (target.kind === 'App') apps.push(target);
        if (forced.removed.length > 0) ctx.io.stderr.write(`${paint.yellow(say.removedFinalizers(name, forced.removed))}\n`);
        if (forced.mayRun.length > 0) ctx.io.stderr.write(`${paint.yellow(say.mayRun(forced.mayRun))}\n`);
        continue;
      }
      const before = await session.store.delete(target.kind, target, options.wait ? { propagationPolicy: 'Foreground' } : {});
      if (!before) {
        ctx.io.stderr.write(`${name} ${say.notFound}\n`);
        if (!fromFiles) failed = true;
        continue;
      }
      const gone = !(before.metadata.finalizers ?? []).length;
      if (target.kind === 'Volume' && !gone) ctx.io.stdout.write(`${paint.yellow(await markedLine(session.store, before as VolumeObject))}\n`);
      else ctx.io.stdout.write(`${name} ${gone ? paint.red(say.deleted) : paint.yellow(say.marked)}\n`);
      if (!gone) pending.push(target);
      if (target.kind === 'App') apps.push(target);
    } catch (error) {
      failed = true;
      ctx.io.stderr.write(`${name} ${paint.red('failed')}: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  for (const app of apps) {
    try {
      pending.push(...(await keepOrWipeVolumes(ctx, session.store, app, options.wipe ?? false)));
    } catch (error) {
      failed = true;
      ctx.io.stderr.write(`app/${app.name} volumes ${paint.red('failed')}: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  if (options.wait) {
    const deadline = Date.now() + options.timeoutMs;
    for (const target of pending) {
      await waitGone(session.store, target, deadline, options.timeoutMs);
      ctx.io.stdout.write(`${displayName({ kind: target.kind, metadata: target })} ${paint.red(say.deleted)}\n`);
    }
  }
  return failed ? EXIT.failed : EXIT.ok;
}

/** Says which Volumes of a deleted App are kept, or wipes them; returns those wiped, still held by their finalizer. */
async function keepOrWipeVolumes(ctx: CommandContext, store: Store, app: Target, wipeThem: boolean): Promise<Target[]> {
  const volumes = await volumesOf(store, { namespace: app.namespace!, app: app.name });
  if (volumes.length === 0) return [];
  if (!wipeThem) {
    ctx.io.stdout.write(`${say.kept(app.name, app.namespace!, volumes)}\n`);
    return [];
  }
  for (const line of await wipe(store, volumes)) ctx.io.stdout.write(`${line}\n`);
  return volumes.map((volume) => ({ kind: 'Volume', namespace: volume.metadata.namespace, name: volume.metadata.name }));
}

async function waitGone(store: Store, target: Target, deadline: number, timeoutMs: number): Promise<void> {
  for (;;) {
    const object = await store.get(target.kind, target);
    if (!object) return;
    if (Date.now() > deadline) {
      const remaining = [{ kind: target.kind, object }, ...(await dependentsOf(store, object))];
      const holding = remaining.filter((found) => found.object.metadata.finalizers?.length).map(say.holds);
      throw new CliError(say.timeout(displayName({ kind: target.kind, metadata: target }), formatDuration(timeoutMs), holding));
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

const formatDuration = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

/**
 * Every object that depends on `root` through ownerReferences, level by level (breadth first). One
 * list per kind: a forced deletion and a timeout's explanation are rare, and a list is what the store
 * can answer (no index of owners outside the controllers' informers).
 */
async function dependentsOf(store: Store, root: AnyObject): Promise<Found[]> {
  const all: Found[] = [];
  for (const definition of store.registry.kinds()) {
    if (NOT_DEPENDENTS.has(definition.kind)) continue;
    const { items } = await store.list(definition.kind);
    for (const object of items) if (object.metadata.ownerReferences?.length) all.push({ kind: definition.kind, object });
  }
  const found: Found[] = [];
  let owners = new Set([root.metadata.uid]);
  while (owners.size > 0) {
    const level = all.filter((candidate) => candidate.object.metadata.ownerReferences!.some((o) => owners.has(o.uid)) && !found.includes(candidate));
    found.push(...level);
    owners = new Set(level.map((f) => f.object.metadata.uid));
  }
  return found;
}

/**
 * Removes the finalizers of the target and its dependents, dependents first, and deletes each (gone
 * at once, having no finalizers left). Returns what was removed and the workloads that may still run
 * (tasks their agent had not released), or undefined when the target does not exist.
 */
async function forceDelete(store: Store, target: Target): Promise<{ removed: string[]; mayRun: string[] } | undefined> {
  const root = await store.get(target.kind, target);
  if (!root) return undefined;
  const objects = [{ kind: root.kind, object: root }, ...(await dependentsOf(store, root))];
  const removed: string[] = [];
  const mayRun: string[] = [];
  for (const { kind, object } of objects.reverse()) {
    const ref = { namespace: object.metadata.namespace, name: object.metadata.name, uid: object.metadata.uid };
    const result = await readModifyWrite({
      store,
      kind,
      ref,
      attempts: 5,
      write: 'update',
      change: (current) => (current.metadata.finalizers?.length ? { ...current, metadata: { ...current.metadata, finalizers: [] } } : undefined),
    });
    if (result.outcome === 'gone') continue;
    const finalizers = object.metadata.finalizers ?? [];
    if (finalizers.length > 0) removed.push(say.holds({ kind, object }));
    const node = (object.spec as { nodeName?: string } | undefined)?.nodeName;
    if (finalizers.includes(AGENT_FINALIZER) && node) {
      mayRun.push(say.stillRunning(object));
      // The agent would drop the entry once it sees the task gone; a node that is down never does.
      await removeNodeTaskIndexEntry(store.client, { node, namespace: object.metadata.namespace!, name: object.metadata.name, uid: object.metadata.uid! });
    }
    await store.delete(kind, ref);
  }
  return { removed, mayRun };
}
