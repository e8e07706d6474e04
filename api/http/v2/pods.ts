// /v2/pods: Marathon's pods, which are Apps with several containers (or translated from a pod
// definition: api/marathon/pod.ts). Paths as Marathon's: `/v2/pods/{id}`, `{id}::status`,
// `{id}::versions[/{version}]`, `{id}::instances[/{instanceId}]`, and `/v2/pods/::status` for all.
// Writes go through the apply engine as /v2/apps' do; killing an instance deletes its Task
// (api/ops/kill-tasks.ts) and the replicas controller starts a replacement.
import type { FastifyReply } from 'fastify';
import type { ApplySetResult } from '../../apply/apply.ts';
import { marathonIdOf, refOfMarathonId, resolveMarathonId } from '../../marathon/ids.ts';
import { isMarathonPod, podFromMarathon, podStatusToMarathon, podToMarathon } from '../../marathon/pod.ts';
import type { AnyObject } from '../../object.ts';
import { killTasks } from '../../ops/kill-tasks.ts';
import { applyObjects } from '../apply.ts';
import type { ApiContext, RouteModule } from '../context.ts';
import { conflict, detailsOfProblems, notFound, unprocessable } from '../errors.ts';
import { cachedApp, cachedApps, deploymentResult, flag, lockingDeployments, nodeOf, readApp, tasksOf, type Cached } from './apps-lookup.ts';
import { DEPLOYMENT_HEADER, detailsOfMarathonProblems } from './apps-write.ts';

export const say = {
  unknownPod: (id: string) => `Pod '${id}' does not exist`,
  unknownVersion: (id: string, version: string) => `Pod '${id}' does not exist in version ${version}`,
  unknownInstance: (id: string, instance: string) => `Instance '${instance}' of pod '${id}' does not exist`,
  exists: (id: string) => `A pod with id [${id}] already exists.`,
  notPod: (id: string, found: string) => `${id} is an app, not a pod (${found}): use /v2/apps${id}`,
  invalidId: (id: string) => `expected a pod id: "/"-separated lowercase DNS label pieces such as /prod/web, found "${id}"`,
  notObject: (found: string) => `expected a JSON object (a pod definition), found ${found}`,
  instanceList: (found: string) => `expected a JSON array of instance ids, found ${found}`,
  locked: (ids: readonly string[]) =>
    `Pod is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/${ids[0]}'.`,
} as const;

type Query = Record<string, unknown>;

/** What a path below /v2/pods/ asks for. */
export type PodPath =
  | { id: string; part: 'pod' | 'status' | 'versions' | 'instances'; sub?: string }
  | { id: undefined; part: 'allStatus' };

/** `prod/web::instances/prod_web.abc` → pod `/prod/web`, instance `prod_web.abc`; undefined when no id. */
export function parsePodPath(wildcard: string): PodPath | undefined {
  if (wildcard === '::status') return { id: undefined, part: 'allStatus' };
  const match = /^(.*?)(?:::(status|versions|instances)(?:\/(.+))?)?$/.exec(wildcard)!;
  const id = resolveMarathonId(`/${match[1]!}`);
  if (id === undefined || id === '/') return undefined;
  const part = (match[2] ?? 'pod') as 'pod' | 'status' | 'versions' | 'instances';
  return match[3] !== undefined ? { id, part, sub: decodeURIComponent(match[3]) } : { id, part };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export const podsRoutes: RouteModule = (server, ctx) => {
  server.get('/v2/pods', async () => cachedApps(ctx).filter(isMarathonPod).map((app) => podToMarathon(app)));
  server.post<{ Querystring: Query }>('/v2/pods', (request, reply) => createPod(ctx, request.body, reply));
  const route = (handle: (path: PodPath, request: { body: unknown; query: Query }, reply: FastifyReply) => FastifyReply | Promise<FastifyReply>) =>
    (request: { params: unknown; body: unknown; query: unknown }, reply: FastifyReply) => {
      const wildcard = (request.params as { '*': string })['*'];
      const path = parsePodPath(wildcard);
      if (!path) return unprocessable(reply, [{ path: '/id', errors: [say.invalidId(wildcard)] }]);
      return handle(path, { body: request.body, query: request.query as Query }, reply);
    };
  server.get('/v2/pods/*', route((path, _, reply) => readPod(ctx, path, reply)));
  server.put('/v2/pods/*', route((path, request, reply) => (path.part === 'pod' ? updatePod(ctx, path.id, request.body, request.query, reply) : notFoundPath(path, reply))));
  server.delete('/v2/pods/*', route((path, request, reply) => {
    if (path.part === 'pod') return deletePod(ctx, path.id, request.query, reply);
    if (path.part === 'instances') return killInstances(ctx, path.id, path.sub, request.body, reply);
    return notFoundPath(path, reply);
  }));
};

function notFoundPath(path: PodPath, reply: FastifyReply): FastifyReply {
  return notFound(reply, say.unknownPod(path.id ?? '/'));
}

/** The cached pod App an id names, or undefined (an App that is no pod is not found here). */
function cachedPod(ctx: ApiContext, id: string): Cached | undefined {
  const app = cachedApp(ctx, id);
  return app && isMarathonPod(app) ? app : undefined;
}

function readPod(ctx: ApiContext, path: PodPath, reply: FastifyReply): FastifyReply {
  if (path.part === 'allStatus') return reply.send(cachedApps(ctx).filter(isMarathonPod).map((app) => podStatusToMarathon(app, tasksOf(ctx, app), nodeOf(ctx))));
  const app = cachedPod(ctx, path.id);
  if (!app) return notFound(reply, say.unknownPod(path.id));
  if (path.part === 'status') return reply.send(podStatusToMarathon(app, tasksOf(ctx, app), nodeOf(ctx)));
  const pod = podToMarathon(app);
  if (path.part === 'pod') return reply.send(pod);
  if (path.part === 'instances') return reply.send((podStatusToMarathon(app, tasksOf(ctx, app), nodeOf(ctx))['instances'] as unknown[]) ?? []);
  // Versions: Capstan keeps the current definition only (earlier templates are Revisions, not pods).
  if (path.sub === undefined) return reply.send([pod['version']]);
  return path.sub === pod['version'] ? reply.send(pod) : notFound(reply, say.unknownVersion(path.id, path.sub));
}

type Written = { app: Cached } | { reply: FastifyReply };

async function write(ctx: ApiContext, definition: unknown, reply: FastifyReply): Promise<Written> {
  const translated = podFromMarathon(definition);
  if (translated.problems.length > 0 || !translated.app) return { reply: unprocessable(reply, detailsOfMarathonProblems(translated.problems)) };
  const { problems, result } = await applyObjects(ctx, [translated.app as AnyObject]);
  if (problems) return { reply: unprocessable(reply, detailsOfProblems(problems)) };
  const outcome = (result as ApplySetResult).objects[0]!;
  if (outcome.outcome === 'failed') return { reply: conflict(reply, outcome.problem, []) };
  return { app: outcome.object as Cached };
}

function sendPod(ctx: ApiContext, reply: FastifyReply, app: Cached, created: boolean): FastifyReply {
  const id = marathonIdOf(app);
  reply.header(DEPLOYMENT_HEADER, deploymentResult(app, ctx.now()).deploymentId);
  if (created) reply.code(201).header('Location', `${ctx.url}/v2/pods${id}`);
  return reply.send(podToMarathon(app));
}

/** POST /v2/pods: 201 with the pod, Location and Marathon-Deployment-Id; 409 when the id is taken. */
async function createPod(ctx: ApiContext, body: unknown, reply: FastifyReply): Promise<FastifyReply> {
  if (!isObject(body)) return unprocessable(reply, [{ path: '/', errors: [say.notObject(JSON.stringify(body))] }]);
  const id = typeof body['id'] === 'string' ? resolveMarathonId(body['id']) : undefined;
  const ref = id === undefined ? undefined : refOfMarathonId(id);
  if (id !== undefined && ref && !('problem' in ref) && (await ctx.store.get('App', ref))) return conflict(reply, say.exists(id), []);
  const written = await write(ctx, body, reply);
  return 'reply' in written ? written.reply : sendPod(ctx, reply, written.app, true);
}

/** PUT /v2/pods/{id}: replaces the definition (creates when absent); 409 while a deployment locks it unless forced. */
async function updatePod(ctx: ApiContext, id: string, body: unknown, query: Query, reply: FastifyReply): Promise<FastifyReply> {
  if (!isObject(body)) return unprocessable(reply, [{ path: '/', errors: [say.notObject(JSON.stringify(body))] }]);
  const existing = await readApp(ctx, id);
  if (existing && !isMarathonPod(existing as Cached)) return conflict(reply, say.notPod(id, 'one container'), []);
  if (existing) {
    const deployments = lockingDeployments(existing as Cached);
    if (!flag(query['force']) && deployments.length > 0) return conflict(reply, say.locked(deployments.map((d) => d.id)), deployments);
  }
  const written = await write(ctx, { ...body, id }, reply);
  return 'reply' in written ? written.reply : sendPod(ctx, reply, written.app, !existing);
}

/** DELETE /v2/pods/{id}: 202 with Marathon-Deployment-Id; its instances stop. */
async function deletePod(ctx: ApiContext, id: string, query: Query, reply: FastifyReply): Promise<FastifyReply> {
  const existing = await readApp(ctx, id);
  if (!existing || !isMarathonPod(existing as Cached)) return notFound(reply, say.unknownPod(id));
  const deployments = lockingDeployments(existing as Cached);
  if (!flag(query['force']) && deployments.length > 0) return conflict(reply, say.locked(deployments.map((d) => d.id)), deployments);
  const before = await ctx.store.delete('App', { namespace: existing.metadata.namespace, name: existing.metadata.name });
  if (!before) return notFound(reply, say.unknownPod(id));
  const { deploymentId } = deploymentResult(before as Cached, ctx.now(), { deleted: true });
  return reply.code(202).header(DEPLOYMENT_HEADER, deploymentId).send();
}

/**
 * DELETE /v2/pods/{id}::instances/{instanceId} (one: answers its status) or ::instances with a JSON
 * array of ids (answers theirs). Each instance's Task is deleted; the pod keeps its instance count,
 * so a replacement starts.
 */
async function killInstances(ctx: ApiContext, id: string, one: string | undefined, body: unknown, reply: FastifyReply): Promise<FastifyReply> {
  const app = cachedPod(ctx, id);
  if (!app) return notFound(reply, say.unknownPod(id));
  if (one === undefined && !(Array.isArray(body) && body.every((item) => typeof item === 'string'))) {
    return unprocessable(reply, [{ path: '/', errors: [say.instanceList(JSON.stringify(body))] }]);
  }
  const wanted = one !== undefined ? [one] : (body as string[]);
  // Each instance as ::status shows it, so the ids a client read there are the ones it can kill.
  const instances = tasksOf(ctx, app).map((task) => ({ task, status: (podStatusToMarathon(app, [task], nodeOf(ctx))['instances'] as Record<string, unknown>[])[0] }));
  const chosen = instances.filter((instance) => wanted.includes(String(instance.status?.['id'])) || wanted.includes(instance.task.metadata.name));
  if (one !== undefined && chosen.length === 0) return notFound(reply, say.unknownInstance(id, one));
  await killTasks({ store: ctx.store, namespace: app.metadata.namespace ?? '', app: app.metadata.name, tasks: chosen.map((c) => c.task.metadata.name) });
  const statuses = chosen.map((c) => c.status);
  return reply.send(one !== undefined ? statuses[0] : statuses);
}
