// GET /v2/queue and DELETE /v2/queue/{id}/delay. Marathon's launch queue holds each app with
// instances still to launch, and its launch delay after failures; here that is read from the App's
// status (the counts, `launchDelay` the rollout controller keeps from its current Revision). Resetting
// the delay is api/ops/reset-delay.ts: a stamp the replicas controller honours once.
import type { FastifyReply } from 'fastify';
import type { AppSpec, AppStatus } from '../../kinds/app.ts';
import { resetLaunchDelay } from '../../ops/reset-delay.ts';
import type { ApiContext } from '../context.ts';
import { notFound } from '../errors.ts';
import { marathonApp } from './apps-read.ts';
import { cachedApps, readApp, say, type Cached } from './apps-lookup.ts';

/** Instances the App still has to launch, or undefined when none and no delay runs (not queued). */
export function queueEntry(app: Cached, now: Date): { count: number; delay: { timeLeftSeconds: number; overdue: boolean }; since: string } | undefined {
  const spec = app.spec as AppSpec;
  const status = app.status as Partial<AppStatus> | undefined;
  const count = Math.max(0, spec.instances - (status?.running ?? 0) - (status?.staged ?? 0));
  const delay = status?.launchDelay;
  if (count === 0 && !delay) return undefined;
  const until = delay ? Date.parse(delay.until) : now.getTime();
  const timeLeftSeconds = Math.max(0, Math.ceil((until - now.getTime()) / 1000));
  const since = status?.lastTaskFailure?.timestamp ?? status?.rollout?.lastProgressAt ?? app.metadata.creationTimestamp ?? now.toISOString();
  return { count, delay: { timeLeftSeconds, overdue: until <= now.getTime() }, since };
}

/** GET /v2/queue → `{queue: [{app, count, delay, since}]}`. */
export function listQueue(ctx: ApiContext, reply: FastifyReply): FastifyReply {
  const now = ctx.now();
  const queue = cachedApps(ctx).flatMap((app) => {
    const entry = queueEntry(app, now);
    return entry ? [{ ...entry, app: marathonApp(ctx, app, new Set(['counts'])) }] : [];
  });
  return reply.send({ queue });
}

/** DELETE /v2/queue/{id}/delay → 204; 404 when no such app. */
export async function resetDelay(ctx: ApiContext, id: string, reply: FastifyReply): Promise<FastifyReply> {
  const app = await readApp(ctx, id);
  if (!app) return notFound(reply, say.notInQueue(id));
  const result = await resetLaunchDelay({ store: ctx.store, namespace: app.metadata.namespace ?? '', name: app.metadata.name, now: ctx.now() });
  if (result.outcome === 'gone') return notFound(reply, say.notInQueue(id));
  return reply.code(204).send();
}
