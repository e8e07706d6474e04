// Tasks as Marathon shows and kills them: GET/DELETE /v2/apps/{id}/tasks[/{taskId}], GET /v2/tasks
// and POST /v2/tasks/delete. A kill is api/ops/kill-tasks.ts (the Task deleted, then replaced, or
// with `?scale=true` the App loses it). GET answers JSON, or with `Accept: text/plain` Marathon's
// script-friendly lines: per app and service port, `<app id with "/" → "_">\t<service port>\t<host:port>\t...`.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { EndpointsSpec } from '../../kinds/endpoints.ts';
import type { TaskSpec } from '../../kinds/task.ts';
import { appToMarathon } from '../../marathon/app.ts';
import { marathonIdOf, parseMarathonTaskId } from '../../marathon/ids.ts';
import { taskToMarathon } from '../../marathon/task.ts';
import { refKey } from '../../object.ts';
import { killTasks } from '../../ops/kill-tasks.ts';
import type { ApiContext } from '../context.ts';
import { badRequest, conflict, notFound, parseOr422 } from '../errors.ts';
import { DEPLOYMENT_HEADER } from './apps-write.ts';
import { deploymentIdOfChange } from './deployment-stamp.ts';
import { cachedApp, cachedApps, flag, lockingDeployments, many, nodeOf, readApp, say, tasksOf, type Cached } from './apps-lookup.ts';

/** Marathon's `?status=` values it filters on; others are ignored, as Marathon ignores them. */
const STATUS_STATES: Record<string, string> = { running: 'TASK_RUNNING', staging: 'TASK_STAGING' };

const killBody = z.object({ ids: z.array(z.string()) });

/** Whether the client asked for text/plain rather than JSON (Marathon serves both on the task lists). */
export function wantsText(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return accept.includes('text/plain') && !accept.includes('application/json');
}

function taskJson(ctx: ApiContext, task: Cached, app: Cached): Record<string, unknown> {
  const node = (task.spec as TaskSpec).nodeName;
  return taskToMarathon(task, app, node ? nodeOf(ctx)(node) : undefined);
}

/**
 * The app's service ports: as its definition gives them, and where it left one to Capstan (0), the
 * port the endpoints controller allocated (the App's Endpoints), as Marathon shows the port it assigned.
 */
function servicePortsOf(ctx: ApiContext, app: Cached, json: Record<string, unknown>): number[] {
  const endpoints = ctx.informers.informer('Endpoints').get(refKey({ namespace: app.metadata.namespace, name: app.metadata.name }));
  const allocated = (endpoints?.spec as EndpointsSpec | undefined)?.ports ?? [];
  const definitions = (json['portDefinitions'] as { port: number }[] | undefined) ?? [];
  return definitions.map((definition, index) => definition.port || (allocated.find((p) => p.index === index)?.servicePort ?? 0));
}

/** Marathon's EndpointsHelper text: one line per app and service port (one line with a blank port and the hosts when it has none). */
export function endpointsText(ctx: ApiContext, apps: readonly Cached[]): string {
  let text = '';
  for (const app of apps) {
    const json = appToMarathon(app, { nodes: nodeOf(ctx), embed: new Set() });
    const cleanId = marathonIdOf(app).slice(1).replace(/\//g, '_');
    const running = tasksOf(ctx, app)
      .map((task) => taskJson(ctx, task, app))
      .filter((task) => task['state'] === 'TASK_RUNNING');
    const servicePorts = servicePortsOf(ctx, app, json);
    if (servicePorts.length === 0) {
      text += `${cleanId}\t \t${running.map((task) => `${String(task['host'])} `).join('')}\n`;
      continue;
    }
    servicePorts.forEach((port, index) => {
      const hosts = running.map((task) => `${String(task['host'])}:${(task['ports'] as number[] | undefined)?.[index] ?? 0}\t`).join('');
      text += `${cleanId}\t${port}\t${hosts}\n`;
    });
  }
  return text;
}

/** GET /v2/apps/{id}/tasks. */
export async function appTasks(ctx: ApiContext, id: string, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const app = cachedApp(ctx, id) ?? ((await readApp(ctx, id)) as Cached | undefined);
  if (!app) return notFound(reply, say.unknownApp(id));
  if (wantsText(request)) return reply.type('text/plain').send(endpointsText(ctx, [app]));
  return reply.send({ tasks: tasksOf(ctx, app).map((task) => taskJson(ctx, task, app)) });
}

/** GET /v2/tasks: every app's tasks, `?status=running|staging` (also `status[]`). */
export function allTasks(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const apps = cachedApps(ctx);
  if (wantsText(request)) return reply.type('text/plain').send(endpointsText(ctx, apps));
  const query = request.query as Record<string, unknown>;
  const states = new Set([...many(query['status']), ...many(query['status[]'])].flatMap((s) => STATUS_STATES[s.toLowerCase()] ?? []));
  const tasks = apps.flatMap((app) => tasksOf(ctx, app).map((task) => taskJson(ctx, task, app)));
  return reply.send({ tasks: states.size === 0 ? tasks : tasks.filter((task) => states.has(String(task['state']))) });
}

interface KillRequest {
  app: Cached;
  tasks: Cached[];
}

/** Kills the tasks of each app; with scale, one deployment for every app scaled, as Marathon answers. */
async function kill(ctx: ApiContext, requests: readonly KillRequest[], query: Record<string, unknown>, reply: FastifyReply, answer: (killed: Record<string, unknown>[]) => unknown): Promise<FastifyReply> {
  const scale = flag(query['scale']);
  const wipe = flag(query['wipe']);
  if (scale && wipe) return badRequest(reply, say.scaleAndWipe);
  if (scale && !flag(query['force'])) {
    const deployments = requests.flatMap(({ app }) => lockingDeployments(app));
    if (deployments.length > 0) return conflict(reply, say.locked(deployments.map((d) => d.id)), deployments);
  }
  const killed: Record<string, unknown>[] = [];
  const scaled: Cached[] = [];
  for (const { app, tasks } of requests) {
    const { namespace = '', name } = app.metadata;
    const result = await killTasks({ store: ctx.store, namespace, app: name, tasks: tasks.map((t) => t.metadata.name), scale, wipe });
    killed.push(...result.killed.map((task) => taskJson(ctx, task as Cached, app)));
    if (result.scaled?.outcome === 'scaled') scaled.push(result.scaled.app as Cached);
  }
  if (!scale) return reply.send(answer(killed));
  // One deployment for the change, however many apps it scaled (deployment-stamp.ts).
  const moved = scaled.length > 0 ? scaled : requests.slice(0, 1).map((r) => r.app);
  const deploymentId = moved.length > 0 ? await deploymentIdOfChange(ctx, moved) : null;
  if (deploymentId) reply.header(DEPLOYMENT_HEADER, deploymentId);
  return reply.send({ version: ctx.now().toISOString(), deploymentId });
}

/** DELETE /v2/apps/{id}/tasks (`?host=` a node, or `*`) and /v2/apps/{id}/tasks/{taskId}. */
export async function killAppTasks(ctx: ApiContext, id: string, taskId: string | undefined, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const query = request.query as Record<string, unknown>;
  const app = cachedApp(ctx, id) ?? ((await readApp(ctx, id)) as Cached | undefined);
  if (!app) return notFound(reply, say.unknownApp(id));
  const all = tasksOf(ctx, app);
  if (taskId !== undefined) {
    const uid = parseMarathonTaskId(taskId)?.uid;
    const task = all.find((t) => t.metadata.uid === uid);
    if (!task) return notFound(reply, say.unknownTask(taskId));
    return kill(ctx, [{ app, tasks: [task] }], query, reply, (killed) => ({ task: killed[0] }));
  }
  const host = typeof query['host'] === 'string' ? query['host'] : undefined;
  const onHost = (task: Cached) => host === undefined || host === '*' || taskJson(ctx, task, app)['host'] === host || (task.spec as TaskSpec).nodeName === host;
  return kill(ctx, [{ app, tasks: all.filter(onHost) }], query, reply, (killed) => ({ tasks: killed }));
}

/** POST /v2/tasks/delete `{ids: [...]}`: tasks of any apps; ids of unknown tasks are skipped, malformed ones refused. */
export async function killTasksById(ctx: ApiContext, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const body = parseOr422(killBody, request.body, reply);
  if (!body) return reply;
  const byApp = new Map<string, KillRequest>();
  for (const taskId of body.ids) {
    const parsed = parseMarathonTaskId(taskId);
    if (!parsed) return badRequest(reply, say.invalidTaskId(taskId));
    const app = cachedApp(ctx, parsed.appId);
    const task = app && tasksOf(ctx, app).find((t) => t.metadata.uid === parsed.uid);
    if (!app || !task) continue;
    const entry = byApp.get(parsed.appId) ?? { app, tasks: [] };
    entry.tasks.push(task);
    byApp.set(parsed.appId, entry);
  }
  return kill(ctx, [...byApp.values()], request.query as Record<string, unknown>, reply, (killed) => ({ tasks: killed }));
}
