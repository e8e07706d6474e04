// GET /v2/deployments and DELETE /v2/deployments/{id}. A deployment is an App's rollout in progress
// (api/marathon/deployments.ts), the Apps of one group change joined into one.
//
// DELETE rolls the deployment back, as Marathon's does: a new deployment returns each affected App
// to where it was (200 {deploymentId, version}). What "where it was" means per action:
//   RestartApplication: the revision before (its stable one, else the newest older: api/ops/undo.ts);
//   ScaleApplication:   the instance count before (the count last observed, else the tasks running);
//   StartApplication:   the App did not exist before, so it is deleted (or, with an earlier
//                       revision, goes back to it);
//   StopApplication:    a deletion is not undone (the App's tasks are already stopping).
// A paused App is resumed, so the rollback moves. With `?force=true` the deployment is stopped where
// it is, with no rollback (202, no body): Capstan holds a rollout where it is by pausing it
// (capstan.io/paused), and `capstan rollout resume APP` lets it continue.
import type { FastifyReply } from 'fastify';
import type { AppSpec, AppStatus } from '../../kinds/app.ts';
import { deploymentOf, deploymentsOf, type DeploymentAction } from '../../marathon/deployments.ts';
import type { AnyObject, CapstanObject, DeepReadonly } from '../../object.ts';
import { setPaused } from '../../ops/pause.ts';
import { scaleApp } from '../../ops/scale.ts';
import { undoApp } from '../../ops/undo.ts';
import type { ApiContext, RouteModule } from '../context.ts';
import { notFound } from '../errors.ts';
import { cachedApps, flag } from './apps-lookup.ts';
import { DEPLOYMENT_HEADER } from './apps-write.ts';
import { deploymentIdOfChange } from './deployment-stamp.ts';

type App = CapstanObject<AppSpec, AppStatus>;
type Cached = DeepReadonly<AnyObject>;

export const say = {
  unknownDeployment: (id: string) => `DeploymentPlan ${id} does not exist`,
} as const;

export const deploymentsRoutes: RouteModule = (server, ctx) => {
  server.get('/v2/deployments', async () => deploymentsOf(cachedApps(ctx)));
  server.delete<{ Params: { id: string }; Querystring: Record<string, unknown> }>('/v2/deployments/:id', async (request, reply) =>
    cancelDeployment(ctx, request.params.id, flag(request.query.force), reply),
  );
};

/** The Apps of deployment `id`, read from the store (a client that just wrote one finds it). */
async function appsOfDeployment(ctx: ApiContext, id: string): Promise<App[]> {
  const { items } = await ctx.store.list<App>('App');
  return items.filter((app) => deploymentOf(app as Cached)?.id === id);
}

async function cancelDeployment(ctx: ApiContext, id: string, force: boolean, reply: FastifyReply): Promise<FastifyReply> {
  const apps = await appsOfDeployment(ctx, id);
  if (apps.length === 0) return notFound(reply, say.unknownDeployment(id));
  if (force) {
    for (const app of apps) await setPaused({ store: ctx.store, namespace: app.metadata.namespace ?? '', name: app.metadata.name, paused: true });
    return reply.code(202).send();
  }
  const moved: Cached[] = [];
  for (const app of apps) {
    const reverted = await revert(ctx, app, deploymentOf(app as Cached)!.steps[0]!.actions[0]!.action);
    if (reverted) moved.push(reverted);
  }
  const deploymentId = await deploymentIdOfChange(ctx, moved);
  return reply.header(DEPLOYMENT_HEADER, deploymentId).send({ deploymentId, version: ctx.now().toISOString() });
}

/** One App back to where it was before `action` (see the header); the App as written, or undefined when it was deleted or left. */
async function revert(ctx: ApiContext, app: App, action: DeploymentAction): Promise<Cached | undefined> {
  const ref = { store: ctx.store, namespace: app.metadata.namespace ?? '', name: app.metadata.name };
  if (action === 'StopApplication') return undefined;
  await setPaused({ ...ref, paused: false });
  if (action === 'ScaleApplication') {
    const status = app.status;
    const observed = (status?.observedGeneration ?? 0) >= (app.metadata.generation ?? 0);
    const instances = status === undefined ? app.spec.instances : observed ? status.running : status.instances;
    const result = await scaleApp({ ...ref, instances });
    return result.outcome === 'scaled' || result.outcome === 'unchanged' ? (result.app as Cached) : undefined;
  }
  const undone = await undoApp(ref);
  if (undone.outcome === 'undone') return undone.app as Cached;
  if (undone.outcome === 'noRevision' && action === 'StartApplication') {
    await ctx.store.delete('App', { namespace: ref.namespace, name: ref.name });
  }
  return undefined;
}
