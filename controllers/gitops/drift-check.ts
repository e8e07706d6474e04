// Drift, the effects (drift.ts decides): read the last applied commit again, plan it against the
// store with the apply engine, report what drifted in the Sync's status, and with spec.selfHeal
// write back the drifted objects only (apply is idempotent: the rest would come back unchanged).
//
// When it runs: whenever the Sync is looked at with its commit applied — every interval, and at
// once when an App in its inventory changes (the `syncs` controller watches Apps for their health).
// Other kinds are not watched: their drift is seen within one interval.
import { applySet, planSet } from '../../api/apply/apply.ts';
import { validateSet, type ValidSet } from '../../api/apply/validate.ts';
import type { DriftedObject, SyncSpec, SyncStatus } from '../../api/kinds/sync.ts';
import { parseManifests, type ManifestDocument } from '../../api/manifest.ts';
import { getCondition, refKey, type AnyObject, type Condition } from '../../api/object.ts';
import type { ReconcileContext } from '../contract.ts';
import { keepRollbacks, planDrift, rollbackExcuse, say } from './drift.ts';
import type { ManifestFile } from './git-source.ts';
import { failuresOf, syncInventoryName, withDefaultNamespace } from './sync-plan.ts';

type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

/** What sync.ts's status writer offers: fields and conditions, written on change only. */
export interface DriftStatusWriter {
  readonly object: AnyObject;
  write(fields: Partial<SyncStatus>, conditions: ConditionUpdate[]): Promise<void>;
}

export interface CheckDriftInput {
  /** The commit whose objects the Sync owns: status.lastAppliedRevision. */
  revision: string;
  readCommit: (revision: string) => Promise<ManifestFile[]>;
}

export const drifted = (status: 'True' | 'False', reason: string, message: string): ConditionUpdate => ({ type: 'Drifted', status, reason, message });

export async function checkDrift(ctx: ReconcileContext, writer: DriftStatusWriter, input: CheckDriftInput): Promise<void> {
  const sync = writer.object;
  const spec = sync.spec as SyncSpec;
  const set = await validCommit(ctx, sync, await input.readCommit(input.revision));
  // The commit was valid when it was applied; a CustomKind deleted since can make it invalid now.
  // Then nothing can be compared, and applying the next commit will say why.
  if (!set) return;
  const inventory = syncInventoryName(sync);
  const previous = (sync.status as SyncStatus | undefined)?.drift ?? [];
  const plan = planDrift({ plan: await planSet(set, { store: ctx.store, inventory: { derived: inventory } }), inventory, previous, now: ctx.now() });
  if (plan.drifted.length === 0) {
    // Drifted=False already (NoDrift, or SelfHealed naming what was restored last): kept as it is.
    const shown = getCondition((sync.status as SyncStatus | undefined)?.conditions, 'Drifted');
    await writer.write({ drift: [] }, shown?.status === 'False' ? [] : [drifted('False', 'NoDrift', say.none)]);
    return;
  }
  const message = say.drifted(plan.drifted, spec.selfHeal);
  await writer.write({ drift: plan.drifted }, [drifted('True', spec.selfHeal ? 'SelfHealing' : 'Drifted', message)]);
  if (!reportedBefore(previous, plan.drifted)) await ctx.events.record(sync, { type: 'Warning', reason: 'Drifted', message });
  if (!spec.selfHeal) return;

  // No prune: the subset is the drifted objects, not the commit; the inventory keeps every entry.
  const subset = { ...set, objects: set.objects.filter((o) => plan.heal.includes(o)) } as ValidSet;
  const result = await applySet(subset, { store: ctx.store, namespace: sync.metadata.namespace!, inventory: { derived: inventory } });
  // Retried with backoff; Drifted stays True (SelfHealing) meanwhile.
  if (result.failed) throw new Error(say.healFailed(failuresOf(result)));
  const healed = say.healed(plan.drifted);
  await writer.write({ drift: [] }, [drifted('False', 'SelfHealed', healed)]);
  await ctx.events.record(sync, { reason: 'SelfHealed', message: healed });
}

/** Whether every drifted object was already reported, as it is now (an event per new drift, not per check). */
function reportedBefore(previous: readonly DriftedObject[], now: readonly DriftedObject[]): boolean {
  return now.every((d) => previous.some((p) => p.kind === d.kind && p.namespace === d.namespace && p.name === d.name && p.detectedAt === d.detectedAt));
}

/** The commit's objects as applying it would write them (as sync.ts's applyCommit reads them), or undefined when they are not valid now. */
async function validCommit(ctx: ReconcileContext, sync: AnyObject, files: ManifestFile[]): Promise<ValidSet | undefined> {
  const spec = sync.spec as SyncSpec;
  const parsed = files.map((file) => parseManifests(file.content, file.path));
  const documents: ManifestDocument[] = withDefaultNamespace(
    parsed.flatMap((p) => p.documents),
    spec.targetNamespace ?? sync.metadata.namespace!,
    (kind) => ctx.store.registry.find(kind)?.namespaced,
  );
  const validation = await validateSet({ documents, parseProblems: parsed.flatMap((p) => p.problems), registry: ctx.store.registry, store: ctx.store });
  return validation.valid ? validation.set : undefined;
}

export interface KeepRollbacksInput {
  /** status.lastAppliedRevision, if any. */
  lastApplied: string | undefined;
  readCommit: (revision: string) => Promise<ManifestFile[]>;
}

/** The set with rolled-back Apps it does not change left as they are (drift.ts keepRollbacks); the last applied commit is read only when there is one. */
export async function withRollbacksKept(ctx: ReconcileContext, sync: AnyObject, set: ValidSet, input: KeepRollbacksInput): Promise<ValidSet> {
  const live = (object: AnyObject) => (object.kind === 'App' ? ctx.informer('App').get(refKey({ namespace: object.metadata.namespace, name: object.metadata.name })) : undefined);
  if (!input.lastApplied || !set.objects.some((o) => rollbackExcuse(live(o)) !== null)) return set;
  const before = await validCommit(ctx, sync, await input.readCommit(input.lastApplied));
  // The last applied commit no longer valid (a CustomKind gone): nothing to compare, so the commit is applied as it is.
  if (!before) return set;
  return { ...set, objects: keepRollbacks(set.objects, before.objects, live) } as ValidSet;
}
