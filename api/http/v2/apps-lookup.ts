// What the apps, tasks and queue routes share: reading a Marathon app path and its suffix, query
// flags as Marathon (Jersey) reads them, the App an id names, its tasks, and whether a deployment
// locks it. Reads come from the server's informers, except the App a write is about, which is read
// from the store so a client that just wrote it reads its own write.
import type { AppSpec, AppStatus } from '../../kinds/app.ts';
import { isTerminal, type TaskSpec, type TaskStatus } from '../../kinds/task.ts';
import { deploymentIdOf } from '../../marathon/deployment-id.ts';
import { deploymentIdOfApp, deploymentOf } from '../../marathon/deployments.ts';
import { marathonIdOf, refOfMarathonId, resolveMarathonId } from '../../marathon/ids.ts';
import { refKey, type AnyObject, type CapstanObject, type DeepReadonly } from '../../object.ts';
import type { ApiContext } from '../context.ts';

export type App = CapstanObject<AppSpec, AppStatus>;
export type Task = CapstanObject<TaskSpec, TaskStatus>;
export type Cached = DeepReadonly<AnyObject>;

export const say = {
  unknownApp: (id: string) => `App '${id}' does not exist`,
  unknownAppVersion: (id: string, version: string) => `App '${id}' does not exist in version ${version}`,
  unknownTask: (id: string) => `Task '${id}' does not exist`,
  invalidTaskId: (id: string) => `Invalid task id '${id}'.`,
  invalidId: (id: string) => `Invalid app id '${id}': expected an absolute path of lowercase DNS label pieces such as /prod/web`,
  exists: (id: string) => `An app with id [${id}] already exists.`,
  takenBy: (id: string, other: string, ref: string) =>
    `An app with id [${id}] cannot be created: ${ref} already holds the app ${other}, and both ids map to that namespace/name. Choose another id.`,
  locked: (ids: readonly string[]) =>
    `App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/${ids[0]}'.`,
  scaleAndWipe: 'You cannot use scale and wipe at the same time.',
  notInQueue: (id: string) => `Application ${id} not found in tasks queue.`,
  badSelector: (detail: string) => `Invalid label selector: ${detail}`,
  beingDeleted: (id: string) => `App '${id}' is being deleted: once it is gone (GET answers 404), create it again`,
  notAList: (found: unknown) => `expected a JSON list of app definitions, found ${JSON.stringify(found)}`,
  idExpected: 'the id of an app, such as "/web" or "/prod/web"',
  notAnObject: (found: unknown) => `expected a JSON object (an app definition), found ${JSON.stringify(found)}`,
  notAllowed: (method: string, url: string) => `${method} is not allowed on ${url}`,
  noRoute: (url: string) => `no such resource: ${url} (Marathon's is DELETE /v2/queue/{app id}/delay)`,
} as const;

/** What a path below /v2/apps/ asks for, once the Marathon app id is split off. */
export type AppPath =
  | { id: string; part: 'app' }
  | { id: string; part: 'restart' }
  | { id: string; part: 'tasks'; taskId?: string }
  | { id: string; part: 'versions'; version?: string };

/** `prod/web/tasks/prod_web.abc` → app `/prod/web`, its task. Suffixes as Marathon's routes (`{appId:.+}/tasks`) read them. */
export function parseAppPath(wildcard: string): AppPath {
  const segments = wildcard.split('/').filter((s) => s !== '');
  const id = (count: number) => `/${segments.slice(0, count).join('/')}`;
  const n = segments.length;
  if (n >= 2 && segments[n - 1] === 'restart') return { id: id(n - 1), part: 'restart' };
  if (n >= 2 && segments[n - 1] === 'tasks') return { id: id(n - 1), part: 'tasks' };
  if (n >= 3 && segments[n - 2] === 'tasks') return { id: id(n - 2), part: 'tasks', taskId: decodeURIComponent(segments[n - 1]!) };
  if (n >= 2 && segments[n - 1] === 'versions') return { id: id(n - 1), part: 'versions' };
  if (n >= 3 && segments[n - 2] === 'versions') return { id: id(n - 2), part: 'versions', version: decodeURIComponent(segments[n - 1]!) };
  return { id: id(n), part: 'app' };
}

/** A query flag as Jersey reads a Boolean: "true" in any case is true, anything else false; absent → `fallback`. */
export function flag(value: unknown, fallback = false): boolean {
  if (value === undefined) return fallback;
  const text = Array.isArray(value) ? value[value.length - 1] : value;
  return String(text).toLowerCase() === 'true';
}

/** A query parameter that may repeat (`embed=a&embed=b`), as a list. */
export function many(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** The normalized id, or undefined when it is no Marathon id Capstan can hold. */
export function normalizeId(id: string): string | undefined {
  const resolved = resolveMarathonId(id);
  if (resolved === undefined || 'problem' in refOfMarathonId(resolved)) return undefined;
  return resolved;
}

/** The stored App a Marathon id names (read from the store: read-your-writes), or undefined. */
export async function readApp(ctx: ApiContext, id: string): Promise<App | undefined> {
  const ref = refOfMarathonId(id);
  if ('problem' in ref) return undefined;
  const app = await ctx.store.get<App>('App', ref);
  return app && marathonIdOf(app) === id ? app : undefined;
}

/** The cached App a Marathon id names, or undefined. */
export function cachedApp(ctx: ApiContext, id: string): Cached | undefined {
  const ref = refOfMarathonId(id);
  if ('problem' in ref) return undefined;
  const app = ctx.informers.informer('App').get(refKey(ref));
  return app && marathonIdOf(app) === id ? app : undefined;
}

/** Every cached App, by Marathon id. */
export function cachedApps(ctx: ApiContext): Cached[] {
  return ctx.informers
    .informer('App')
    .list()
    .sort((a, b) => marathonIdOf(a).localeCompare(marathonIdOf(b)));
}

/** The App's tasks Marathon would list: not ended (Marathon expunges those), oldest first. */
export function tasksOf(ctx: ApiContext, app: Cached): Cached[] {
  const { namespace, name } = app.metadata;
  return ctx.informers
    .informer('Task')
    .byIndex('app', refKey({ namespace, name }))
    .filter((task) => (task.spec as TaskSpec).app === name && !isTerminal((task.status as TaskStatus | undefined)?.phase))
    .sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''));
}

export function nodeOf(ctx: ApiContext): (name: string) => Cached | undefined {
  const nodes = ctx.informers.informer('Node');
  return (name) => nodes.get(name);
}

/** The deployments that lock the App: its rollout while in progress (C2's deploymentOf). */
export function lockingDeployments(app: Cached): { id: string }[] {
  const deployment = deploymentOf(app);
  return deployment ? [{ id: deployment.id }] : [];
}

/**
 * The deployment a write started: its id is derived from the App's uid and the generation the write
 * gave it (C2's deploymentIdOfApp), so it is known before any controller acts. A write that did not
 * change the spec (a restart stamp) names the rollout of the current generation; a deletion names
 * generation 0, which no spec ever has.
 */
export function deploymentResult(app: Cached, now: Date, options: { deleted?: boolean } = {}): { version: string; deploymentId: string } {
  const deploymentId = options.deleted ? deploymentIdOf(app.metadata.uid ?? '', 0) : deploymentIdOfApp(app);
  return { version: now.toISOString(), deploymentId };
}
