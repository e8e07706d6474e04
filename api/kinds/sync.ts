// Sync: the manifests under `path` of a GitRepository (same namespace), applied by the gitops
// controller whole or not at all, commit by commit (Flux's Kustomization, Argo CD's Application).
// Why a kind of its own beside GitRepository: see ./gitrepository.ts.
import { z } from 'zod';
import { API_VERSION, DNS_LABEL, getCondition } from '../object.ts';
import type { AnyObject, CommonStatus } from '../object.ts';
import { durationSchema, shortRevision } from './gitrepository.ts';
import type { KindDefinition } from './registry.ts';

const say = {
  name: 'the name of an object in the Sync\'s namespace (a DNS label)',
  path: 'a path inside the repository, relative to its root, without ".." (e.g. "." or "apps/shop")',
} as const;

const localName = z.string().regex(DNS_LABEL, { error: say.name });

export const syncSpecSchema = z.strictObject({
  /** The GitRepository, in the Sync's namespace. */
  sourceRef: z.strictObject({ name: localName }),
  /** The directory whose YAML and JSON files (recursively) are applied; "." is the repository's root. */
  path: z.string().min(1).refine((path) => !path.startsWith('/') && !path.split('/').includes('..'), { error: say.path }).default('.'),
  /** Delete what the previous commit applied and this one no longer has. Off by default, as in Flux and Argo CD. */
  prune: z.boolean().default(false),
  /**
   * Write back, within an interval, what was changed in the store of the objects the last applied
   * commit wrote (drift); false: drift is only reported (status.drift, condition Drifted).
   */
  selfHeal: z.boolean().default(false),
  /** Leave the objects as they are: no commit is applied while true. */
  suspend: z.boolean().default(false),
  /** Syncs in the same namespace that must be Ready at their repository's current commit first. */
  dependsOn: z.array(z.strictObject({ name: localName })).default([]),
  /** How often the Sync is looked at again without a new commit; absent: the repository's interval. */
  interval: durationSchema.optional(),
  /**
   * The namespace of the objects whose manifests name none; absent: the Sync's own namespace.
   * Manifests that name a namespace keep it.
   */
  targetNamespace: z.string().regex(DNS_LABEL, { error: say.name }).optional(),
});
export type SyncSpec = z.infer<typeof syncSpecSchema>;

export type HealthState = 'Healthy' | 'Progressing' | 'Degraded';

/** One object the Sync applied, as its inventory holds it, and how it is doing. */
export interface SyncedObject {
  kind: string;
  namespace?: string;
  name: string;
  /** Apps only: their rollout's (Healthy: Complete and Available; Progressing; Degraded, with the App's reason). */
  health?: HealthState;
  reason?: string;
  message?: string;
}

/** An object of the last applied commit that the store holds otherwise (controllers/gitops/drift.ts). */
export interface DriftedObject {
  kind: string;
  namespace?: string;
  name: string;
  /** The paths that differ from what the commit writes (`spec.instances`, `metadata.labels.tier`). */
  fields: string[];
  /** Deleted from the store since the commit was applied. */
  deleted?: boolean;
  /** When it was first seen drifted this way. */
  detectedAt: string;
}

export interface SyncCounts {
  created: number;
  configured: number;
  unchanged: number;
  pruned: number;
}

/**
 * Conditions: Ready (True: the repository's current commit is applied whole; False with a reason:
 * ValidationFailed, DependencyNotReady, ApplyFailed, ArtifactNotReady, Suspended, OwnershipConflict),
 * Reconciling (True while a commit is being written), Stalled (True when nothing changes until a new
 * commit or a spec change: an invalid commit, a dependency cycle, objects another inventory owns),
 * Drifted (True: objects of the last applied commit changed in the store, status.drift lists them).
 */
export interface SyncStatus extends CommonStatus {
  /** The commit whose objects are all written: the last commit applied whole. */
  lastAppliedRevision?: string;
  /** Written before anything of a commit is: differs from lastAppliedRevision while that commit is incomplete. */
  lastAttemptedRevision?: string;
  /** When the last attempt (valid or not) started. */
  lastAttemptedAt?: string;
  /** The Sync generation lastAppliedRevision was applied with (path, prune, targetNamespace). */
  lastAppliedGeneration?: number;
  /** The inventory prune works within (api/apply), kept in the Sync's namespace. */
  inventoryName?: string;
  inventory?: SyncedObject[];
  /** Objects changed in the store since the last applied commit was (condition Drifted says how many). */
  drift?: DriftedObject[];
  /** What the last applied commit did. */
  counts?: SyncCounts;
  /** The last `capstan.io/requestedAt` stamp (`capstan sync now`) this Sync acted on. */
  lastHandledRequestedAt?: string;
}

const specOf = (object: AnyObject) => object.spec as Partial<SyncSpec>;
const statusOf = (object: AnyObject) => object.status as SyncStatus | undefined;

export const syncKind: KindDefinition = {
  apiVersion: API_VERSION,
  kind: 'Sync',
  plural: 'syncs',
  singular: 'sync',
  shortNames: [],
  namespaced: true,
  spec: syncSpecSchema,
  columns: [
    { header: 'SOURCE', value: (o) => specOf(o).sourceRef?.name ?? '' },
    { header: 'PATH', value: (o) => specOf(o).path ?? '' },
    { header: 'APPLIED', value: (o) => shortRevision(statusOf(o)?.lastAppliedRevision) || '<none>' },
    { header: 'ATTEMPTED', wide: true, value: (o) => shortRevision(statusOf(o)?.lastAttemptedRevision) || '<none>' },
    { header: 'OBJECTS', wide: true, value: (o) => String(statusOf(o)?.inventory?.length ?? 0) },
    { header: 'DRIFT', wide: true, value: (o) => String(statusOf(o)?.drift?.length ?? 0) },
    { header: 'READY', value: (o) => getCondition(statusOf(o)?.conditions, 'Ready')?.status ?? 'Unknown' },
    { header: 'MESSAGE', value: (o) => getCondition(statusOf(o)?.conditions, 'Ready')?.message ?? '' },
  ],
};
