// The pure half of a Sync's reconcile (STYLE.md habit 3): what to do with a Sync given its
// repository, the Syncs it depends on and its own status, and the sentences its conditions carry.
// sync.ts reads the caches and git, and writes.
import { INVENTORY_LABEL, defaultInventoryName } from '../../api/apply/plan.ts';
import type { ApplySetResult } from '../../api/apply/apply.ts';
import { durationMs, shortRevision, type GitRepositoryStatus } from '../../api/kinds/gitrepository.ts';
import type { SyncCounts, SyncSpec, SyncStatus } from '../../api/kinds/sync.ts';
import { REQUESTED_AT_ANNOTATION, SYNC_PRUNE_FINALIZER } from '../../api/kinds/wellknown.ts';
import { formatProblem, type ManifestDocument, type Problem } from '../../api/manifest.ts';
import { getCondition, type AnyObject, type DeepReadonly } from '../../api/object.ts';

/** Without an interval on the Sync or its repository (both are defaulted; this is for a cache not yet caught up). */
export const DEFAULT_INTERVAL_MS = 60_000;
/** Problems a Ready message spells out; the rest are counted. */
export const PROBLEMS_SHOWN = 3;

export const say = {
  noRepository: (name: string) => `GitRepository ${name} not found in this namespace: apply it, or fix spec.sourceRef.name`,
  noArtifact: (name: string, why: string | undefined) => `GitRepository ${name} has no commit yet${why ? `: ${why}` : ''}`,
  dependencyMissing: (name: string) => `depends on Sync ${name}, which does not exist in this namespace`,
  dependencyNotReady: (name: string, why: string) => `waiting for Sync ${name}: ${why}`,
  notAppliedYet: (revision: string | undefined) => (revision ? `commit ${shortRevision(revision)} not applied yet` : 'no commit applied yet'),
  cycle: (names: string[]) => `dependsOn forms a cycle: ${names.join(' → ')}; remove one of these dependencies`,
  invalid: (revision: string, problems: readonly Problem[], documents: number, applied: string | undefined) => {
    const shown = problems.slice(0, PROBLEMS_SHOWN).map(formatProblem).join('; ');
    const more = problems.length > PROBLEMS_SHOWN ? `; and ${problems.length - PROBLEMS_SHOWN} more` : '';
    const kept = applied ? `commit ${shortRevision(applied)} stays applied` : 'nothing is applied yet';
    return `commit ${shortRevision(revision)}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in ${documents} document${documents === 1 ? '' : 's'}, nothing written (${kept}); fix them in a new commit: ${shown}${more}`;
  },
  owned: (conflicts: readonly OwnershipConflict[], ours: string) =>
    `${conflicts
      .slice(0, PROBLEMS_SHOWN)
      .map((c) => `${c.kind} ${c.namespace ? `${c.namespace}/` : ''}${c.name} belongs to inventory ${c.inventory}`)
      .join('; ')}${conflicts.length > PROBLEMS_SHOWN ? `; and ${conflicts.length - PROBLEMS_SHOWN} more` : ''}: nothing written; remove it from one of the two sources, or hand it over with \`capstan apply -f FILE --inventory ${ours}\``,
  applying: (revision: string, objects: number) => `applying commit ${shortRevision(revision)}: ${objects} object${objects === 1 ? '' : 's'}`,
  applied: (revision: string, counts: SyncCounts) =>
    `applied commit ${shortRevision(revision)}: ${counts.created} created, ${counts.configured} configured, ${counts.unchanged} unchanged, ${counts.pruned} pruned`,
  applyFailed: (revision: string, failures: string[]) =>
    `commit ${shortRevision(revision)} partly written, retrying until it is whole: ${failures.slice(0, PROBLEMS_SHOWN).join('; ')}${failures.length > PROBLEMS_SHOWN ? `; and ${failures.length - PROBLEMS_SHOWN} more` : ''}`,
  elsewhere: (count: number) => `; ${count} object${count === 1 ? '' : 's'} of the commit belong${count === 1 ? 's' : ''} to another inventory and kept it`,
  readFailed: (revision: string, why: string) => `could not read commit ${shortRevision(revision)}: ${why}`,
  keptFromPrune: (entry: { kind: string; namespace?: string; name: string }, reason: string) =>
    `; ${entry.kind} ${entry.namespace ? `${entry.namespace}/` : ''}${entry.name} not pruned (${reason}), and no longer in the inventory`,
  finalizeFailed: (failures: string[]) =>
    `deleting: could not prune what the Sync applied, retrying: ${failures.slice(0, PROBLEMS_SHOWN).join('; ')}${failures.length > PROBLEMS_SHOWN ? `; and ${failures.length - PROBLEMS_SHOWN} more` : ''}`,
  finalized: (pruned: number, kept: number) => `deleted: pruned ${pruned} object${pruned === 1 ? '' : 's'} it applied${kept > 0 ? `, kept ${kept} (opted out or no longer its own)` : ''}`,
} as const;

/**
 * What a Sync's SYNC_PRUNE_FINALIZER needs: while prune is on it holds one, so that deleting the Sync
 * prunes what it applied first ('finalize'); with prune off it holds none, and deleting it leaves
 * its objects (with their inventory label, so a Sync of the same name takes them over again).
 */
export type FinalizerStep = 'add' | 'remove' | 'finalize' | 'none';

export function finalizerStep(sync: DeepReadonly<{ metadata: { deletionTimestamp?: string; finalizers?: string[] }; spec?: unknown }>): FinalizerStep {
  const held = sync.metadata.finalizers?.includes(SYNC_PRUNE_FINALIZER) ?? false;
  const prune = (sync.spec as { prune?: boolean } | undefined)?.prune ?? false;
  if (sync.metadata.deletionTimestamp) return held ? 'finalize' : 'none';
  if (prune && !held) return 'add';
  if (!prune && held) return 'remove';
  return 'none';
}

/** The inventory a Sync's objects are labelled with (api/apply), a label value even for long names. */
export const syncInventoryName = (sync: { metadata: { namespace?: string; name: string } }) =>
  defaultInventoryName([`sync/${sync.metadata.namespace ?? ''}/${sync.metadata.name}`]);

export function syncIntervalMs(spec: DeepReadonly<SyncSpec>, repository: DeepReadonly<AnyObject> | undefined): number {
  const own = spec.interval ?? (repository?.spec as { interval?: string } | undefined)?.interval;
  return (own && durationMs(own)) || DEFAULT_INTERVAL_MS;
}

/** The `capstan sync now` stamp on a Sync or GitRepository, when it has one. */
export const requestedAtOf = (object: DeepReadonly<AnyObject>) => object.metadata.annotations?.[REQUESTED_AT_ANNOTATION];

/** A repository's commit, when it has one. */
export const artifactOf = (repository: DeepReadonly<AnyObject> | undefined) => (repository?.status as GitRepositoryStatus | undefined)?.artifact?.revision;

export type WaitReason = 'ArtifactNotReady' | 'DependencyNotReady' | 'DependencyCycle';

export type SyncDecision =
  /** Nothing can be applied yet: Ready=False with this reason. */
  | { action: 'wait'; reason: WaitReason; message: string; stalled: boolean }
  /** Nothing to write: the commit is applied (or was refused at this revision less than an interval ago), or the Sync is suspended. Refresh health. */
  | { action: 'observe'; recheckMs: number }
  | { action: 'apply'; revision: string };

export interface DecideInput {
  sync: DeepReadonly<AnyObject>;
  repository: DeepReadonly<AnyObject> | undefined;
  /** Syncs of the namespace by name, and their repositories' commits: dependsOn is read from them. */
  syncs: ReadonlyMap<string, DeepReadonly<AnyObject>>;
  artifactOfSync: (sync: DeepReadonly<AnyObject>) => string | undefined;
  now: Date;
}

/** Conditions after which the same commit is tried again only once an interval has passed: only a new commit or spec, or the store, can change the outcome. */
const REFUSED = new Set(['ValidationFailed', 'OwnershipConflict', 'ArtifactFailed']);

export function decideSync(input: DecideInput): SyncDecision {
  const { sync, repository, now } = input;
  const spec = sync.spec as DeepReadonly<SyncSpec>;
  const status = (sync.status ?? {}) as DeepReadonly<SyncStatus>;
  const intervalMs = syncIntervalMs(spec, repository);
  if (spec.suspend) return { action: 'observe', recheckMs: intervalMs };
  if (!repository) return { action: 'wait', reason: 'ArtifactNotReady', message: say.noRepository(spec.sourceRef.name), stalled: false };
  const revision = artifactOf(repository);
  if (!revision) {
    const why = getCondition((repository.status as GitRepositoryStatus | undefined)?.conditions, 'Ready')?.message;
    return { action: 'wait', reason: 'ArtifactNotReady', message: say.noArtifact(spec.sourceRef.name, why), stalled: false };
  }
  const cycle = findCycle(sync.metadata.name, (name) => ((input.syncs.get(name)?.spec as DeepReadonly<SyncSpec> | undefined)?.dependsOn ?? []).map((d) => d.name));
  if (cycle) return { action: 'wait', reason: 'DependencyCycle', message: say.cycle(cycle), stalled: true };
  for (const { name } of spec.dependsOn) {
    const why = dependencyNotReady(input.syncs.get(name), name, input.artifactOfSync);
    if (why) return { action: 'wait', reason: 'DependencyNotReady', message: say.dependencyNotReady(name, why), stalled: false };
  }
  const ready = getCondition(status.conditions as SyncStatus['conditions'], 'Ready');
  const applied =
    ready?.status === 'True' &&
    status.lastAppliedRevision === revision &&
    status.lastAttemptedRevision === revision &&
    status.lastAppliedGeneration === sync.metadata.generation;
  if (applied) return { action: 'observe', recheckMs: intervalMs };
  // `capstan sync now`: a stamp not handled yet tries the current commit now, even one refused less
  // than an interval ago. (An applied commit is only observed: the stamp is recorded by that write.)
  const requestedAt = requestedAtOf(sync);
  if (requestedAt !== undefined && requestedAt !== status.lastHandledRequestedAt) return { action: 'apply', revision };
  // A commit refused at this revision and generation: look again once an interval has passed (a
  // service port another App held may be free by then), not on every change of an App it applied.
  const refusedAt = status.lastAttemptedAt ? Date.parse(status.lastAttemptedAt) : Number.NaN;
  const refusedHere = ready?.status === 'False' && REFUSED.has(ready.reason ?? '') && status.lastAttemptedRevision === revision && status.observedGeneration === sync.metadata.generation;
  const sinceMs = now.getTime() - refusedAt;
  if (refusedHere && sinceMs >= 0 && sinceMs < intervalMs) return { action: 'observe', recheckMs: intervalMs - sinceMs };
  return { action: 'apply', revision };
}

/** Why the Sync `name` does not yet count as Ready for its dependents, or null when it does. */
export function dependencyNotReady(dependency: DeepReadonly<AnyObject> | undefined, name: string, artifactOfSync: (sync: DeepReadonly<AnyObject>) => string | undefined): string | null {
  if (!dependency) return say.dependencyMissing(name);
  const status = (dependency.status ?? {}) as DeepReadonly<SyncStatus>;
  const ready = getCondition(status.conditions as SyncStatus['conditions'], 'Ready');
  if (ready?.status !== 'True') return ready?.message ?? say.notAppliedYet(undefined);
  const revision = artifactOfSync(dependency);
  if (!revision || status.lastAppliedRevision !== revision) return say.notAppliedYet(revision);
  return null;
}

/** The names along a dependsOn cycle through `start` (start first and last), or undefined. */
export function findCycle(start: string, dependsOn: (name: string) => readonly string[]): string[] | undefined {
  const path: string[] = [start];
  const seen = new Set<string>();
  const walk = (name: string): string[] | undefined => {
    for (const next of dependsOn(name)) {
      if (next === start) return [...path, start];
      if (seen.has(next)) continue;
      seen.add(next);
      path.push(next);
      const found = walk(next);
      if (found) return found;
      path.pop();
    }
    return undefined;
  };
  return walk(start);
}

/**
 * The documents with `namespace` written into each namespaced object's metadata that names none:
 * targetNamespace (else the Sync's) is the namespace of a manifest without one, as `capstan apply
 * -n` is. Positions are unaffected: the field is added, nothing written moves.
 */
export function withDefaultNamespace(documents: readonly ManifestDocument[], namespace: string, namespaced: (kind: string) => boolean | undefined): ManifestDocument[] {
  return documents.map((doc) => {
    const value = doc.value as { kind?: unknown; metadata?: unknown } | null;
    if (!value || typeof value !== 'object' || typeof value.kind !== 'string' || !namespaced(value.kind)) return doc;
    const metadata = value.metadata;
    if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata) || 'namespace' in metadata) return doc;
    return { ...doc, value: { ...value, metadata: { ...metadata, namespace } } };
  });
}

export interface OwnershipConflict {
  kind: string;
  namespace?: string;
  name: string;
  inventory: string;
}

/** Objects of the commit that the store holds in another inventory: a Sync never takes them over. */
export function ownershipConflicts(current: readonly (DeepReadonly<AnyObject> | undefined)[], inventory: string): OwnershipConflict[] {
  return current.flatMap((object) => {
    const owner = object?.metadata.labels?.[INVENTORY_LABEL];
    if (!object || owner === undefined || owner === inventory) return [];
    const conflict: OwnershipConflict = { kind: object.kind, name: object.metadata.name, inventory: owner };
    if (object.metadata.namespace) conflict.namespace = object.metadata.namespace;
    return [conflict];
  });
}

export function countsOf(result: ApplySetResult): SyncCounts {
  const count = (outcome: string) => result.objects.filter((o) => o.outcome === outcome).length;
  return { created: count('created'), configured: count('configured'), unchanged: count('unchanged'), pruned: result.pruned.filter((p) => p.outcome === 'pruned').length };
}

/** Each failed object, prune and inventory, one phrase each. */
export function failuresOf(result: ApplySetResult): string[] {
  const name = (o: { kind: string; namespace?: string; name: string }) => `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
  return [
    ...result.objects.flatMap((o) => (o.outcome === 'failed' ? [`${name({ kind: o.manifest.kind, ...o.manifest.metadata })}: ${o.problem}`] : [])),
    ...result.pruned.flatMap((p) => (p.outcome === 'failed' ? [`pruning ${name(p.entry)}: ${p.problem}`] : [])),
    ...result.unsaved.map((u) => `inventory ${u.name}: ${u.problem}`),
  ];
}
