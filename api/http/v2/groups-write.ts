// POST, PUT and DELETE /v2/groups[/{id}]. A group definition becomes its Apps (groupFromMarathon:
// ids resolved, group dependencies written onto each App) and is written through the apply engine
// as one set, so every App of it is valid or none is written. The rollout controller starts an App
// only once its dependencies are healthy, so the group comes up in dependency order.
//
// As Marathon's: POST creates (409 when the group has Apps already), PUT changes and creates, and
// removes the Apps the definition no longer lists (only where it lists that level: a definition
// without `apps` keeps the group's apps, without `groups` its subgroups). `PUT {scaleBy: f}` scales
// every App inside by f (rounded up). `?dryRun=true` answers the plan as Marathon's `steps`, writing
// nothing. A write touching an App whose deployment is in progress is refused (409) unless
// `?force=true`. DELETE deletes every App inside. The answer is `{version, deploymentId}`: one
// deployment for all the Apps the change moved (deployment-stamp.ts).
import { randomUUID } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { ApplySetResult, ObjectOutcome } from '../../apply/apply.ts';
import { deepEqual } from '../../merge.ts';
import { deploymentIdOfApp, stepsInDependencyOrder, type DeploymentAction, type MarathonDeployment } from '../../marathon/deployments.ts';
import { groupFromMarathon } from '../../marathon/group.ts';
import { marathonIdOf, resolveMarathonId } from '../../marathon/ids.ts';
import { isMarathonPod } from '../../marathon/pod.ts';
import { refKey, type AnyObject } from '../../object.ts';
import { scaleApp } from '../../ops/scale.ts';
import { applyObjects } from '../apply.ts';
import type { ApiContext } from '../context.ts';
import { conflict, detailsOfProblems, notFound, unprocessable } from '../errors.ts';
import { cachedApps, flag, lockingDeployments, type Cached } from './apps-lookup.ts';
import { DEPLOYMENT_HEADER, detailsOfMarathonProblems } from './apps-write.ts';
import { deploymentIdOfChange } from './deployment-stamp.ts';

type Json = Record<string, unknown>;
type Query = Record<string, unknown>;

const say = {
  exists: (id: string) => `Group ${id} is already created. Use PUT to change this group.`,
  unknownGroup: (id: string) => `Group '${id}' does not exist`,
  locked: (ids: readonly string[]) =>
    `Group is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/${ids[0]}'.`,
  notObject: (found: string) => `expected a JSON object (a group definition), found ${found}`,
  scaleBy: (found: unknown) => `expected scaleBy a number greater than 0, found ${JSON.stringify(found)}`,
  version: 'expected no version: Capstan keeps no earlier group versions to go back to; roll back with DELETE /v2/deployments/{id} or `capstan rollout undo APP`',
  noId: 'expected the group id, in the path (/v2/groups/prod) or the body ({"id": "/prod"}), found none',
} as const;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The Apps inside group `id` (every App for the root), as cached. */
function appsInside(ctx: ApiContext, id: string): Cached[] {
  return cachedApps(ctx).filter((app) => id === '/' || marathonIdOf(app).startsWith(`${id}/`));
}

/** 409 when a deployment locks one of the Apps and the client did not force. */
function locked(apps: readonly Cached[], force: boolean, reply: FastifyReply): FastifyReply | undefined {
  if (force) return undefined;
  const deployments = [...new Map(apps.flatMap(lockingDeployments).map((d) => [d.id, d])).values()];
  return deployments.length > 0 ? conflict(reply, say.locked(deployments.map((d) => d.id)), deployments) : undefined;
}

function sendDeployment(ctx: ApiContext, reply: FastifyReply, deploymentId: string, created?: string): FastifyReply {
  reply.header(DEPLOYMENT_HEADER, deploymentId);
  if (created) reply.code(201).header('Location', `${ctx.url}/v2/groups${created === '/' ? '' : created}`);
  return reply.send({ version: ctx.now().toISOString(), deploymentId });
}

export async function writeGroup(ctx: ApiContext, request: { id: string; body: unknown; query: Query; mode: 'create' | 'update' }, reply: FastifyReply): Promise<FastifyReply> {
  const { body, query } = request;
  if (!isObject(body)) return unprocessable(reply, [{ path: '/', errors: [say.notObject(JSON.stringify(body))] }]);
  // The body's id, when given, is resolved against the path's, as Marathon's: POST /v2/groups names
  // the group in the body, POST /v2/groups/prod {"id": "back"} is /prod/back, PUT /v2/groups/prod {"id": "/prod"} is /prod.
  const id = typeof body['id'] === 'string' ? resolveMarathonId(body['id'], request.id) : request.id;
  if (id === undefined || (request.mode === 'create' && id === '/')) return unprocessable(reply, [{ path: '/id', errors: [say.noId] }]);
  const existing = appsInside(ctx, id);
  const force = flag(query['force']);
  if (request.mode === 'create' && existing.length > 0) return conflict(reply, say.exists(id), []);
  if (request.mode === 'update' && body['scaleBy'] !== undefined) return scaleGroup(ctx, id, body['scaleBy'], existing, force, reply);
  if (body['version'] !== undefined) return unprocessable(reply, [{ path: '/version', errors: [say.version] }]);

  const translated = groupFromMarathon({ ...body, id }, { parentId: id });
  if (translated.problems.length > 0) return unprocessable(reply, detailsOfMarathonProblems(translated.problems));
  const listed = new Set(translated.apps.map((app) => marathonIdOf(app)));
  const removed = existing.filter((app) => !listed.has(marathonIdOf(app)) && isRemovedBy(body, id, app));
  const touched = existing.filter((app) => listed.has(marathonIdOf(app)) || removed.includes(app));
  const refused = locked(touched, force, reply);
  if (refused) return refused;

  const dryRun = flag(query['dryRun']);
  const { problems, result } = await applyObjects(ctx, translated.apps, { dryRun, force });
  if (problems) return unprocessable(reply, detailsOfProblems(problems));
  const outcomes = (result as ApplySetResult).objects;
  const failed = outcomes.find((o) => o.outcome === 'failed');
  if (failed && failed.outcome === 'failed') return conflict(reply, failed.problem, []);
  if (dryRun) return reply.send({ steps: planSteps(outcomes, existing, removed) });

  for (const app of removed) await ctx.store.delete('App', { namespace: app.metadata.namespace, name: app.metadata.name });
  const before = new Map(existing.map((app) => [refKey(app.metadata), app.metadata.generation]));
  const moved = outcomes.flatMap((o) => (o.outcome !== 'failed' && o.object.metadata.generation !== before.get(refKey(o.object.metadata)) ? [o.object as Cached] : []));
  const deploymentId = await deploymentIdOfChange(ctx, moved);
  return sendDeployment(ctx, reply, deploymentId, request.mode === 'create' ? id : undefined);
}

/**
 * Whether a PUT of `definition` (group `groupId`) removes the App: at the App's own level the
 * definition lists apps (or pods) without it, or on the way there it lists groups without the one
 * holding it.
 */
export function isRemovedBy(definition: Json, groupId: string, app: Cached): boolean {
  const id = marathonIdOf(app);
  const rest = id.slice(groupId === '/' ? 1 : groupId.length + 1).split('/');
  if (rest.length === 1) return Array.isArray(definition[isMarathonPod(app) ? 'pods' : 'apps']);
  const groups = definition['groups'];
  if (!Array.isArray(groups)) return false;
  const childId = groupId === '/' ? `/${rest[0]}` : `${groupId}/${rest[0]}`;
  const child = groups.find((g) => isObject(g) && typeof g['id'] === 'string' && resolveMarathonId(g['id'], groupId) === childId);
  return child === undefined || isRemovedBy(child as Json, childId, app);
}

/** PUT {scaleBy}: every App inside scaled by the factor, rounded up (Marathon's rule). */
async function scaleGroup(ctx: ApiContext, id: string, scaleBy: unknown, apps: readonly Cached[], force: boolean, reply: FastifyReply): Promise<FastifyReply> {
  if (typeof scaleBy !== 'number' || !(scaleBy > 0)) return unprocessable(reply, [{ path: '/scaleBy', errors: [say.scaleBy(scaleBy)] }]);
  if (apps.length === 0) return notFound(reply, say.unknownGroup(id));
  const refused = locked(apps, force, reply);
  if (refused) return refused;
  const moved: Cached[] = [];
  for (const app of apps) {
    const instances = Math.ceil(((app.spec as { instances: number }).instances * scaleBy) - 1e-9);
    const result = await scaleApp({ store: ctx.store, namespace: app.metadata.namespace ?? '', name: app.metadata.name, instances });
    if (result.outcome === 'scaled') moved.push(result.app as Cached);
  }
  return sendDeployment(ctx, reply, await deploymentIdOfChange(ctx, moved));
}

/** DELETE: every App inside the group goes. */
export async function deleteGroup(ctx: ApiContext, id: string, query: Query, reply: FastifyReply): Promise<FastifyReply> {
  const apps = appsInside(ctx, id);
  if (apps.length === 0 && id !== '/') return notFound(reply, say.unknownGroup(id));
  const refused = locked(apps, flag(query['force']), reply);
  if (refused) return refused;
  const deleted: Cached[] = [];
  for (const app of apps) {
    const before = await ctx.store.delete('App', { namespace: app.metadata.namespace, name: app.metadata.name });
    if (before) deleted.push({ ...before, metadata: { ...before.metadata, deletionTimestamp: before.metadata.deletionTimestamp ?? ctx.now().toISOString() } } as Cached);
  }
  // One App: its deletion's id, as DELETE /v2/apps answers; several: a new one (a deleted App takes no stamp).
  return sendDeployment(ctx, reply, deleted.length === 1 ? deploymentIdOfApp(deleted[0]!) : randomUUID());
}

/**
 * A dry run's plan, in Marathon's steps: new Apps start, changed ones restart (or only scale when
 * instances alone changed), removed ones stop; Apps after the Apps they depend on.
 */
function planSteps(outcomes: readonly ObjectOutcome[], existing: readonly Cached[], removed: readonly Cached[]): MarathonDeployment['steps'] {
  const current = new Map(existing.map((app) => [refKey(app.metadata), app]));
  const changes: { app: Cached; action: DeploymentAction }[] = [];
  for (const outcome of outcomes) {
    if (outcome.outcome === 'failed' || outcome.outcome === 'unchanged') continue;
    const before = current.get(refKey(outcome.object.metadata));
    changes.push({ app: outcome.object as Cached, action: before ? changeAction(before, outcome.object) : 'StartApplication' });
  }
  for (const app of removed) changes.push({ app, action: 'StopApplication' });
  return stepsInDependencyOrder(
    changes.map(({ app, action }) => ({ app, actions: [{ action, ...(isMarathonPod(app) ? { pod: marathonIdOf(app) } : { app: marathonIdOf(app) }) }] })),
  );
}

function changeAction(before: Cached, after: AnyObject): DeploymentAction {
  const { instances: _a, ...was } = before.spec as Json;
  const { instances: _b, ...will } = after.spec as Json;
  return deepEqual(was, will) ? 'ScaleApplication' : 'RestartApplication';
}
