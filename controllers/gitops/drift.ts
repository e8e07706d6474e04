// Drift, the pure half (STYLE.md habit 3): which objects of the last applied commit the store no
// longer holds as that commit wrote them, and which of them selfHeal writes back. drift-check.ts
// reads the commit and the store, and writes.
//
// "As the commit wrote them" is the apply engine's own merge (api/apply/plan.ts planApply): an object
// is drifted exactly when applying the commit again would configure (or create) it. So only what the
// manifest owns counts — spec, the labels and annotations it sets — and never status, bindings,
// labels and annotations controllers or `capstan rollout pause|restart` add (the three-way metadata
// merge keeps keys the manifest did not set), nor finalizers and ownerReferences a controller added.
import { INVENTORY_LABEL, type ApplyStep } from '../../api/apply/plan.ts';
import type { AppStatus } from '../../api/kinds/app.ts';
import type { DriftedObject } from '../../api/kinds/sync.ts';
import { deepEqual } from '../../api/merge.ts';
import type { AnyObject, DeepReadonly } from '../../api/object.ts';

/** Objects a Drifted condition's message names; the rest are counted. */
export const DRIFT_SHOWN = 3;

export const say = {
  none: 'every object is as the last applied commit wrote it',
  drifted: (drifted: readonly DriftedObject[], selfHeal: boolean) => {
    const shown = drifted.slice(0, DRIFT_SHOWN).map(describeDrift).join('; ');
    const more = drifted.length > DRIFT_SHOWN ? `; and ${drifted.length - DRIFT_SHOWN} more` : '';
    const what = selfHeal ? 'restoring them' : 'left as they are (spec.selfHeal is false): commit the change, or set selfHeal to restore them';
    return `${drifted.length} object${drifted.length === 1 ? '' : 's'} changed in the store since the commit was applied, ${what}: ${shown}${more}`;
  },
  healed: (drifted: readonly DriftedObject[]) => `restored ${drifted.map(describeDrift).join('; ')}`,
  healFailed: (failures: readonly string[]) => `selfHeal could not restore every drifted object, retrying: ${failures.join('; ')}`,
} as const;

const nameOf = (o: { kind: string; namespace?: string; name: string }) => `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
const describeDrift = (o: DriftedObject) => `${nameOf(o)} (${o.deleted ? 'deleted' : o.fields.join(', ')})`;

/**
 * The paths under which `live` and `desired` differ, in `a.b[0].c` form, sorted. A key on one side
 * only differs; so does a value of another type. Arrays differ element by element, and by length
 * at `path[n]` for the elements only one side has.
 */
export function fieldDiff(live: unknown, desired: unknown, path = ''): string[] {
  if (deepEqual(live, desired)) return [];
  if (Array.isArray(live) && Array.isArray(desired)) {
    const length = Math.max(live.length, desired.length);
    return Array.from({ length }, (_, i) => fieldDiff(live[i], desired[i], `${path}[${i}]`)).flat();
  }
  if (isRecord(live) && isRecord(desired)) {
    const keys = [...new Set([...Object.keys(live), ...Object.keys(desired)])].sort();
    return keys.flatMap((key) => fieldDiff(live[key], desired[key], path ? `${path}.${key}` : key));
  }
  return [path || '.'];
}

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** The parts of an object an apply writes: what a Sync compares. */
const written = (object: AnyObject) => ({
  apiVersion: object.apiVersion,
  metadata: {
    labels: object.metadata.labels,
    annotations: object.metadata.annotations,
    ownerReferences: object.metadata.ownerReferences,
    finalizers: object.metadata.finalizers,
  },
  spec: object.spec,
});

/**
 * Why an App is left as the rollout controller left it, or null. An App it rolled back automatically
 * (`status.rollout.phase` RolledBack: no progress within progressDeadlineSeconds, so its template was
 * rewritten to the last healthy revision) differs from the commit by design. Writing the commit's
 * template back would start the rollout that was just given up, which would be rolled back again: a
 * loop. So it is not drift; the Sync reports it Degraded with the rollback's reason (health.ts), and a
 * new commit that changes the App applies normally. The phase stays RolledBack until the template
 * changes again, so the App is excused exactly as long as it holds the rolled-back-to template.
 */
export function rollbackExcuse(object: DeepReadonly<AnyObject> | undefined): string | null {
  if (object?.kind !== 'App') return null;
  const rollout = (object.status as DeepReadonly<AppStatus> | undefined)?.rollout;
  if (rollout?.phase !== 'RolledBack') return null;
  return rollout.message ?? `rolled back to revision ${rollout.revision ?? '?'}`;
}

export interface DriftInput {
  /** planSet of the last applied commit against the store, with the Sync's inventory. */
  plan: readonly { manifest: AnyObject; step: ApplyStep }[];
  /** The Sync's inventory (label value): an object labelled otherwise is not its own and never touched. */
  inventory: string;
  /** The drift reported last time: an object still drifted the same way keeps its detectedAt. */
  previous: readonly DriftedObject[];
  now: Date;
}

export interface DriftPlan {
  drifted: DriftedObject[];
  /** The manifests selfHeal writes: the drifted objects' only. */
  heal: AnyObject[];
}

export function planDrift(input: DriftInput): DriftPlan {
  const drifted: DriftedObject[] = [];
  const heal: AnyObject[] = [];
  for (const { manifest, step } of input.plan) {
    if (step.action === 'unchanged') continue;
    const current = step.action === 'configure' ? step.current : undefined;
    if (current && current.metadata.labels?.[INVENTORY_LABEL] !== input.inventory) continue;
    if (rollbackExcuse(current) !== null) continue;
    const ref = { kind: manifest.kind, ...(manifest.metadata.namespace ? { namespace: manifest.metadata.namespace } : {}), name: manifest.metadata.name };
    const fields = step.action === 'configure' ? fieldDiff(written(step.current), written(step.object)) : [];
    const seen = input.previous.find((p) => p.kind === ref.kind && p.namespace === ref.namespace && p.name === ref.name);
    const deleted = step.action === 'create';
    const same = seen && deepEqual(seen.fields, fields) && Boolean(seen.deleted) === deleted;
    drifted.push({ ...ref, fields, ...(deleted ? { deleted } : {}), detectedAt: same ? seen.detectedAt : input.now.toISOString() });
    heal.push(manifest);
  }
  return { drifted, heal };
}

const identity = (o: { kind: string; metadata: { namespace?: string; name: string } }) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/**
 * The objects of a commit about to be applied, with each App that was rolled back (rollbackExcuse)
 * and that this commit does not change — its manifest's spec is the last applied commit's — given
 * its live spec instead, so that applying the commit leaves it as the rollback did (the rule above,
 * for a new commit that changes other objects). Kept in the set, it stays in the inventory and out
 * of prune's reach. An App the commit does change is written: a new commit is the way out of a
 * rollback.
 */
export function keepRollbacks(objects: readonly AnyObject[], lastApplied: readonly AnyObject[], live: (object: AnyObject) => DeepReadonly<AnyObject> | undefined): AnyObject[] {
  const before = new Map(lastApplied.map((o) => [identity(o), o]));
  return objects.map((object) => {
    const current = live(object);
    if (!current || rollbackExcuse(current) === null) return object;
    const previous = before.get(identity(object));
    if (!previous || !deepEqual(previous.spec, object.spec)) return object;
    return { ...object, spec: structuredClone(current.spec) as AnyObject['spec'] };
  });
}
