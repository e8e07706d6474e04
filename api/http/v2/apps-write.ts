// POST /v2/apps, PUT/PATCH/DELETE /v2/apps/{id}, POST /v2/apps/{id}/restart. Definitions are
// translated (api/marathon/app.ts) and written through the apply engine (../apply.ts), so the API
// validates and writes exactly as `capstan apply` does. A PUT or PATCH that only sets `instances` is
// a scale (api/ops/scale.ts): spec.instances alone, as `capstan scale`, so the App keeps its applied
// set and nothing else of it is rewritten.
//
// PUT is a partial update unless `?partialUpdate=false`, as Marathon's: the body's fields replace
// those of the app as it is, the rest stay. A PUT of `{version}` rolls back to that version. A write to an App whose rollout is in progress answers
// 409 with that deployment unless `?force=true` (Marathon's lock); DELETE defaults to force, as
// Marathon's does.
import type { FastifyReply } from 'fastify';
import type { ApplySetResult } from '../../apply/apply.ts';
import { appFromMarathon, appToMarathon } from '../../marathon/app.ts';
import { marathonIdOf, refOfMarathonId } from '../../marathon/ids.ts';
import type { MarathonProblem } from '../../marathon/problems.ts';
import type { AnyObject, DeepReadonly } from '../../object.ts';
import { restartApp } from '../../ops/restart.ts';
import { scaleApp } from '../../ops/scale.ts';
import { undoApp } from '../../ops/undo.ts';
import { applyObjects } from '../apply.ts';
import type { ApiContext } from '../context.ts';
import type { CreateTogether } from '../create-together.ts';
import { conflict, detailsOfProblems, notFound, pointerOf, unprocessable, type ProblemDetail } from '../errors.ts';
import { revisionAt } from './apps-read.ts';
import { deploymentResult, flag, lockingDeployments, nodeOf, readApp, say, type App, type Cached } from './apps-lookup.ts';

export const DEPLOYMENT_HEADER = 'Marathon-Deployment-Id';

/** Fields of GET's app JSON that a client may send back but that describe state, not the definition. */
const READ_ONLY_FIELDS = [
  'version', 'versionInfo', 'tasks', 'tasksRunning', 'tasksStaged', 'tasksHealthy', 'tasksUnhealthy',
  'deployments', 'lastTaskFailure', 'readinessCheckResults', 'taskStats',
] as const;

/** Marathon translation problems → 422 details, paths as JSON pointers into the request body. */
export function detailsOfMarathonProblems(problems: readonly MarathonProblem[]): ProblemDetail[] {
  const byPath = new Map<string, string[]>();
  for (const problem of problems) {
    const path = pointerOf(problem.path);
    byPath.set(path, [...(byPath.get(path) ?? []), `expected ${problem.expected}, found ${problem.found}`]);
  }
  return [...byPath].map(([path, errors]) => ({ path, errors }));
}

export function definitionOnly(json: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...json };
  for (const field of READ_ONLY_FIELDS) delete copy[field];
  return copy;
}

export const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

type Written = { app: Cached } | { reply: FastifyReply };

/** Translates and applies one Marathon definition; on failure the reply has been sent. */
async function write(ctx: ApiContext, definition: unknown, reply: FastifyReply): Promise<Written> {
  const translated = appFromMarathon(definition);
  if (translated.problems.length > 0 || !translated.app) return { reply: unprocessable(reply, detailsOfMarathonProblems(translated.problems)) };
  return apply(ctx, translated.app, reply);
}

async function apply(ctx: ApiContext, app: AnyObject, reply: FastifyReply, known?: ReadonlyMap<string, AnyObject | undefined>): Promise<Written> {
  const { problems, result } = await applyObjects(ctx, [app], known ? { known } : {});
  if (problems) return { reply: unprocessable(reply, detailsOfProblems(problems)) };
  const outcome = (result as ApplySetResult).objects[0]!;
  if (outcome.outcome === 'failed') return { reply: conflict(reply, outcome.problem, []) };
  return { app: outcome.object as Cached };
}

function sendDeployment(reply: FastifyReply, app: Cached, now: Date, options: { deleted?: boolean; created?: string } = {}): FastifyReply {
  const result = deploymentResult(app, now, options);
  reply.header(DEPLOYMENT_HEADER, result.deploymentId);
  if (options.created) reply.code(201).header('Location', options.created);
  return reply.send(result);
}

/** 409 when a deployment locks the App and the client did not force. */
export function locked(app: Cached, force: boolean, reply: FastifyReply): FastifyReply | undefined {
  const deployments = lockingDeployments(app);
  return !force && deployments.length > 0 ? conflict(reply, say.locked(deployments.map((d) => d.id)), deployments) : undefined;
}

/**
 * POST /v2/apps: 201, Location and Marathon-Deployment-Id, the app as created; 409 when it exists.
 * Written with the concurrent POSTs in one group (../create-together.ts): one existence read and one
 * transaction for all of them, each answered on its own.
 */
export async function createApp(ctx: ApiContext, creates: CreateTogether, body: unknown, reply: FastifyReply): Promise<FastifyReply> {
  // The App is validated once, by the group below; only an invalid one is translated again with the
  // kind's check, so that its problems name the Marathon fields they came from.
  const translated = appFromMarathon(body, { checkKind: false });
  if (translated.problems.length > 0 || !translated.app) return unprocessable(reply, detailsOfMarathonProblems(translated.problems));
  const id = marathonIdOf(translated.app);
  const ref = refOfMarathonId(id);
  // An id without a namespace and name of its own: the engine's validation says what is wrong with it.
  if ('problem' in ref) {
    const located = appFromMarathon(body);
    if (located.problems.length > 0 || !located.app) return unprocessable(reply, detailsOfMarathonProblems(located.problems));
    const written = await apply(ctx, located.app, reply);
    return 'reply' in written ? written.reply : sendCreated(ctx, id, written.app, reply);
  }
  const creation = await creates.create(translated.app);
  switch (creation.outcome) {
    case 'exists': {
      const existing = creation.object;
      const other = marathonIdOf(existing);
      return conflict(reply, other === id ? say.exists(id) : say.takenBy(id, other, `${existing.metadata.namespace}/${existing.metadata.name}`), []);
    }
    case 'invalid': {
      const located = appFromMarathon(body);
      if (located.problems.length > 0) return unprocessable(reply, detailsOfMarathonProblems(located.problems));
      // A rule across Apps (a service port taken): no one Marathon field to name beyond the engine's path.
      return unprocessable(reply, detailsOfProblems(creation.problems));
    }
    case 'failed':
      return conflict(reply, creation.problem, []);
    case 'created':
      return sendCreated(ctx, id, creation.object as Cached, reply);
  }
}

function sendCreated(ctx: ApiContext, id: string, app: Cached, reply: FastifyReply): FastifyReply {
  const { deploymentId } = deploymentResult(app, ctx.now());
  const json = appToMarathon(app, { tasks: [], nodes: nodeOf(ctx), embed: new Set(['counts', 'tasks', 'deployments']), deployments: [{ id: deploymentId }] });
  return reply.code(201).header('Location', `${ctx.url}/v2/apps${id}`).header(DEPLOYMENT_HEADER, deploymentId).send(json);
}

/** PUT (creates when absent) and PATCH (never creates) /v2/apps/{id}. */
export async function updateApp(
  ctx: ApiContext,
  id: string,
  body: unknown,
  query: Record<string, unknown>,
  reply: FastifyReply,
  options: { allowCreation: boolean },
): Promise<FastifyReply> {
  if (!isObject(body)) return unprocessable(reply, [{ path: '/', errors: [say.notAnObject(body)] }]);
  const partial = !options.allowCreation || flag(query['partialUpdate'], true);
  const existing = await readApp(ctx, id);
  if (!existing && !options.allowCreation) return notFound(reply, say.unknownApp(id));
  if (existing) {
    if (existing.metadata.deletionTimestamp) return conflict(reply, say.beingDeleted(id), []);
    const refused = locked(existing as Cached, flag(query['force']), reply);
    if (refused) return refused;
    if (typeof body['version'] === 'string') return rollback(ctx, existing, body['version'], reply);
    if (partial && isScaleOnly(body)) return scale(ctx, existing, body['instances'] as number, reply);
  }
  const current = existing && partial ? definitionOnly(appToMarathon(existing as Cached, { embed: new Set() })) : {};
  const written = await write(ctx, { ...current, ...body, id }, reply);
  if ('reply' in written) return written.reply;
  return sendDeployment(reply, written.app, ctx.now(), existing ? {} : { created: `${ctx.url}/v2/apps${id}` });
}

const isScaleOnly = (body: Record<string, unknown>) =>
  Number.isSafeInteger(body['instances']) && (body['instances'] as number) >= 0 && Object.keys(body).every((key) => key === 'instances' || key === 'id');

async function scale(ctx: ApiContext, app: DeepReadonly<App>, instances: number, reply: FastifyReply): Promise<FastifyReply> {
  const id = marathonIdOf(app);
  const result = await scaleApp({ store: ctx.store, namespace: app.metadata.namespace ?? '', name: app.metadata.name, instances });
  if (result.outcome === 'gone') return notFound(reply, say.unknownApp(id));
  if (result.outcome === 'beingDeleted') return conflict(reply, say.beingDeleted(id), []);
  return sendDeployment(reply, result.app as Cached, ctx.now());
}

/** PUT {version}: back to the definition of that version (a Revision, api/ops/undo.ts). */
async function rollback(ctx: ApiContext, app: DeepReadonly<App>, version: string, reply: FastifyReply): Promise<FastifyReply> {
  const id = marathonIdOf(app);
  const revision = revisionAt(ctx, app, version);
  if (!revision) return notFound(reply, say.unknownAppVersion(id, version));
  const result = await undoApp({ store: ctx.store, namespace: app.metadata.namespace ?? '', name: app.metadata.name, toRevision: revision.spec.number });
  if (result.outcome === 'gone') return notFound(reply, say.unknownApp(id));
  if (result.outcome === 'noRevision') return notFound(reply, say.unknownAppVersion(id, version));
  return sendDeployment(reply, result.app as Cached, ctx.now());
}

/** DELETE /v2/apps/{id}: force defaults to true, as Marathon's. */
export async function deleteApp(ctx: ApiContext, id: string, query: Record<string, unknown>, reply: FastifyReply): Promise<FastifyReply> {
  const existing = await readApp(ctx, id);
  if (!existing) return notFound(reply, say.unknownApp(id));
  const refused = locked(existing as Cached, flag(query['force'], true), reply);
  if (refused) return refused;
  const before = await ctx.store.delete('App', { namespace: existing.metadata.namespace, name: existing.metadata.name });
  if (!before) return notFound(reply, say.unknownApp(id));
  return sendDeployment(reply, before as Cached, ctx.now(), { deleted: true });
}

/** POST /v2/apps/{id}/restart: every task replaced by a rolling upgrade. */
export async function restart(ctx: ApiContext, id: string, query: Record<string, unknown>, reply: FastifyReply): Promise<FastifyReply> {
  const existing = await readApp(ctx, id);
  if (!existing) return notFound(reply, say.unknownApp(id));
  const refused = locked(existing as Cached, flag(query['force']), reply);
  if (refused) return refused;
  const now = ctx.now();
  const result = await restartApp({ store: ctx.store, namespace: existing.metadata.namespace ?? '', name: existing.metadata.name, now });
  if (result.outcome === 'gone') return notFound(reply, say.unknownApp(id));
  return sendDeployment(reply, result.app as Cached, now);
}
