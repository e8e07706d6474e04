// Revision: an immutable snapshot of an App's template, numbered, owned by the App. The rollout
// controller writes them; `spec.instances` is the only field it changes afterwards (how many tasks of
// this revision it wants right now), so the template itself never moves once written.
import { z } from 'zod';
import { API_VERSION, getCondition } from '../object.ts';
import type { AnyObject, CapstanObject, CommonStatus, DeepReadonly } from '../object.ts';
import { appTemplateSchema, type AppSpec, type AppTemplate, type TaskFailure } from './app.ts';
import type { KindDefinition } from './registry.ts';
import { RESTARTED_AT_ANNOTATION } from './wellknown.ts';

export const revisionSpecSchema = z.strictObject({
  /** The owning App's name (same namespace). */
  app: z.string().min(1),
  /** 1, 2, 3, ... per App; the object is named `<app>-<number>`. */
  number: z.number().int().min(1),
  template: appTemplateSchema,
  instances: z.number().int().min(0),
});
export type RevisionSpec = z.infer<typeof revisionSpecSchema>;

export interface RevisionStatus extends CommonStatus {
  /** Live tasks of this revision, by state. */
  tasks: number;
  running: number;
  healthy: number;
  ready: number;
  /** Set once every wanted instance was healthy and ready at the same time: a rollback target. */
  fullyHealthyAt?: string;
  /** The launch backoff of this revision's tasks (the replicas controller's memory across restarts). */
  backoff?: RevisionBackoff;
  /** The newest of this revision's tasks that ended Failed or Finished, kept after the task is gone. */
  lastTaskFailure?: TaskFailure;
  /** Live tasks the scheduler could not place, and its reason for the newest of them. */
  unschedulable?: { tasks: number; message: string };
}

/** Kept in the Revision's status, so a restarted replicas controller keeps counting where it was. */
export interface RevisionBackoff {
  /** Consecutive launches that ended Failed or Finished, since a task last ran stably. */
  failures: number;
  /** No task is launched before this time. */
  nextLaunchAt?: string;
  /** When the latest counted failure ended: only a task launched after it proves the revision stable. */
  lastFailureAt?: string;
  /** The App's reset-delay stamp (LAUNCH_DELAY_RESET_ANNOTATION) last honoured. */
  resetStamp?: string;
  /** Terminal tasks already counted (newest last, bounded), so none counts twice. */
  counted: string[];
}

/** The name a revision of an App gets, so that it is found without a search. */
export function revisionName(app: string, number: number): string {
  return `${app}-${number}`;
}

/**
 * The App with the revision's template and restart stamp; everything else (instances, strategy)
 * kept. What a rollback writes, from the rollout controller or `capstan rollout undo`.
 */
export function withTemplateOf(app: CapstanObject<AppSpec>, revision: DeepReadonly<CapstanObject<RevisionSpec>>): CapstanObject<AppSpec> {
  const annotations = { ...(app.metadata.annotations ?? {}) };
  const stamp = revision.metadata.annotations?.[RESTARTED_AT_ANNOTATION];
  if (stamp) annotations[RESTARTED_AT_ANNOTATION] = stamp;
  else delete annotations[RESTARTED_AT_ANNOTATION];
  const { annotations: _, ...rest } = app.metadata;
  const metadata = Object.keys(annotations).length ? { ...rest, annotations } : rest;
  return { ...app, metadata, spec: { ...app.spec, ...(structuredClone(revision.spec.template) as AppTemplate) } };
}

const specOf = (object: AnyObject) => object.spec as Partial<RevisionSpec>;
const statusOf = (object: AnyObject) => object.status as Partial<RevisionStatus> | undefined;
const count = (value: number | undefined) => (value === undefined ? '-' : String(value));

export const revisionKind: KindDefinition = {
  apiVersion: API_VERSION,
  kind: 'Revision',
  plural: 'revisions',
  singular: 'revision',
  shortNames: ['rev'],
  namespaced: true,
  spec: revisionSpecSchema,
  columns: [
    { header: 'APP', value: (o) => specOf(o).app ?? '' },
    { header: 'NUMBER', value: (o) => count(specOf(o).number) },
    { header: 'INSTANCES', value: (o) => count(specOf(o).instances) },
    { header: 'RUNNING', value: (o) => count(statusOf(o)?.running) },
    { header: 'HEALTHY', value: (o) => count(statusOf(o)?.healthy) },
    { header: 'READY', value: (o) => count(statusOf(o)?.ready) },
    { header: 'STABLE', wide: true, value: (o) => (statusOf(o)?.fullyHealthyAt ? 'yes' : 'no') },
    { header: 'IMAGE', wide: true, value: (o) => (specOf(o).template?.containers ?? []).map((c) => c.image ?? '-').join(',') },
    { header: 'PROGRESSING', wide: true, value: (o) => getCondition(statusOf(o)?.conditions, 'Progressing')?.status ?? '-' },
  ],
};
