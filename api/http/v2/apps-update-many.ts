// PUT and PATCH /v2/apps with a list of app definitions: one change of many apps, as Marathon's
// `updateMultiple`. Each is merged with its app as it is (partial, unless `?partialUpdate=false` on
// PUT; PATCH never creates), all are validated and applied as ONE set by the apply engine (so one
// invalid app writes nothing), and the answer is one deployment for every app the change moved
// (deployment-stamp.ts).
import type { FastifyReply } from 'fastify';
import type { ApplySetResult } from '../../apply/apply.ts';
import { appFromMarathon, appToMarathon } from '../../marathon/app.ts';
import type { MarathonProblem } from '../../marathon/problems.ts';
import type { AnyObject } from '../../object.ts';
import { applyObjects } from '../apply.ts';
import type { ApiContext } from '../context.ts';
import { conflict, detailsOfProblems, unprocessable } from '../errors.ts';
import { deploymentIdOfChange } from './deployment-stamp.ts';
import { flag, normalizeId, readApp, say, type Cached } from './apps-lookup.ts';
import { DEPLOYMENT_HEADER, definitionOnly, detailsOfMarathonProblems, isObject, locked } from './apps-write.ts';

export async function updateApps(ctx: ApiContext, body: unknown, query: Record<string, unknown>, reply: FastifyReply, options: { allowCreation: boolean }): Promise<FastifyReply> {
  if (!Array.isArray(body)) return unprocessable(reply, [{ path: '/', errors: [say.notAList(body)] }]);
  const partial = !options.allowCreation || flag(query['partialUpdate'], true);
  const force = flag(query['force']);
  const apps: AnyObject[] = [];
  const problems: MarathonProblem[] = [];
  for (const [index, update] of body.entries()) {
    const id = isObject(update) && typeof update['id'] === 'string' ? normalizeId(update['id']) : undefined;
    if (!isObject(update) || id === undefined) {
      problems.push({ path: [index, 'id'], expected: say.idExpected, found: JSON.stringify(isObject(update) ? update['id'] : update) });
      continue;
    }
    const existing = (await readApp(ctx, id)) as Cached | undefined;
    if (!existing && !options.allowCreation) problems.push({ path: [index, 'id'], expected: say.idExpected, found: say.unknownApp(id) });
    if (existing) {
      const refused = locked(existing, force, reply);
      if (refused) return refused;
    }
    const current = existing && partial ? definitionOnly(appToMarathon(existing, { embed: new Set() })) : {};
    const translated = appFromMarathon({ ...current, ...update, id }, { path: [index] });
    problems.push(...translated.problems);
    if (translated.app) apps.push(translated.app);
  }
  if (problems.length > 0) return unprocessable(reply, detailsOfMarathonProblems(problems));
  const { problems: applyProblems, result } = await applyObjects(ctx, apps);
  if (applyProblems) return unprocessable(reply, detailsOfProblems(applyProblems));
  const outcomes = (result as ApplySetResult).objects;
  const failed = outcomes.find((o) => o.outcome === 'failed');
  if (failed?.outcome === 'failed') return conflict(reply, failed.problem, []);
  const written = outcomes.flatMap((o) => (o.outcome === 'failed' ? [] : [{ moved: o.outcome !== 'unchanged', app: o.object as Cached }]));
  const moved = written.filter((w) => w.moved).map((w) => w.app);
  const deploymentId = await deploymentIdOfChange(ctx, moved.length > 0 ? moved : written.slice(0, 1).map((w) => w.app));
  return reply.header(DEPLOYMENT_HEADER, deploymentId).send({ version: ctx.now().toISOString(), deploymentId });
}
