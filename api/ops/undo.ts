// Roll an App back to one of its revisions: write that revision's template (and restart stamp) back
// into the App, which makes that Revision current again; its remaining tasks are kept and the rest
// are replaced by the rolling-upgrade rules. `capstan rollout undo` and Marathon's
// `DELETE /v2/deployments/{id}` (a rollback) call it.
import type { AppSpec, AppStatus } from '../kinds/app.ts';
import { withTemplateOf, type RevisionSpec, type RevisionStatus } from '../kinds/revision.ts';
import { APP_LABEL } from '../kinds/wellknown.ts';
import type { CapstanObject } from '../object.ts';
import { readModifyWrite } from '../read-modify-write.ts';
import type { Store } from '../store.ts';

type App = CapstanObject<AppSpec, AppStatus>;
type Revision = CapstanObject<RevisionSpec, RevisionStatus>;

const MAX_ATTEMPTS = 5;

export type UndoResult =
  | { outcome: 'undone'; app: App; from: number | undefined; to: number }
  | { outcome: 'already'; app: App; revision: number }
  /** `wanted` absent: no earlier revision to go back to. */
  | { outcome: 'noRevision'; wanted: number | undefined; known: number[] }
  | { outcome: 'gone' };

/** The App's revisions, oldest first. */
export async function revisionsOf(store: Store, app: App): Promise<Revision[]> {
  const { items } = await store.list<Revision>('Revision', { namespace: app.metadata.namespace, labelSelector: `${APP_LABEL}=${app.metadata.name}` });
  return items.filter((r) => r.metadata.ownerReferences?.some((o) => o.uid === app.metadata.uid)).sort((a, b) => a.spec.number - b.spec.number);
}

/**
 * The revision an undo goes back to: `wanted`, else the stable one (the last fully healthy, when it
 * is not the current), else the newest before the current.
 */
export function undoTarget<R extends { spec: { number: number } }>(revisions: readonly R[], status: { currentRevision?: number; stableRevision?: number } | undefined, wanted?: number): R | undefined {
  const current = status?.currentRevision;
  if (wanted !== undefined) return revisions.find((r) => r.spec.number === wanted);
  return (
    revisions.find((r) => r.spec.number === status?.stableRevision && r.spec.number !== current) ??
    [...revisions].reverse().find((r) => current !== undefined && r.spec.number < current)
  );
}

export async function undoApp(options: { store: Store; namespace: string; name: string; toRevision?: number }): Promise<UndoResult> {
  const { store, namespace, name } = options;
  const app = await store.get<App>('App', { namespace, name });
  if (!app) return { outcome: 'gone' };
  const revisions = await revisionsOf(store, app);
  const current = app.status?.currentRevision;
  const target = undoTarget(revisions, app.status, options.toRevision);
  if (!target) return { outcome: 'noRevision', wanted: options.toRevision, known: revisions.map((r) => r.spec.number) };
  if (target.spec.number === current) return { outcome: 'already', app, revision: current };
  // Re-read and retry on a conflict: someone (a controller, a person) wrote in between.
  const result = await readModifyWrite<App>({
    store,
    kind: 'App',
    ref: { namespace, name, uid: app.metadata.uid },
    write: 'update',
    change: (fresh) => withTemplateOf(fresh, target) as App,
    attempts: MAX_ATTEMPTS,
  });
  if (result.outcome === 'gone') return { outcome: 'gone' };
  return { outcome: 'undone', app: result.object, from: current, to: target.spec.number };
}
