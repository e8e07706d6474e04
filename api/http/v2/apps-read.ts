// GET /v2/apps, /v2/apps/{id}, /v2/apps/{group}/*, /v2/apps/{id}/versions[/{version}]: Marathon's app
// JSON built from the informers' caches (api/marathon/app.ts translates). Versions are the App's
// Revisions, each known by its creation time, as Marathon knows a version by its timestamp.
import type { FastifyReply } from 'fastify';
import { withTemplateOf, type RevisionSpec } from '../../kinds/revision.ts';
import { matches, parseSelector, SelectorError } from '../../labels.ts';
import { appToMarathon } from '../../marathon/app.ts';
import { marathonIdOf } from '../../marathon/ids.ts';
import type { CapstanObject, DeepReadonly } from '../../object.ts';
import type { ApiContext } from '../context.ts';
import { badRequest, notFound } from '../errors.ts';
import { cachedApps, lockingDeployments, many, nodeOf, readApp, say, tasksOf, type App, type Cached } from './apps-lookup.ts';

type Revision = CapstanObject<RevisionSpec>;

/** `embed` values, with or without Marathon's `app.`/`apps.` prefix, as the short names appToMarathon reads. */
export function embedsOf(query: unknown, always: readonly string[] = []): Set<string> {
  const embed = new Set(always);
  for (const value of many(query)) embed.add(value.replace(/^apps?\./, ''));
  return embed;
}

/** One App as Marathon shows it, with what `embed` asks for. */
export function marathonApp(ctx: ApiContext, app: Cached, embed: ReadonlySet<string>): Record<string, unknown> {
  return appToMarathon(app, {
    tasks: embed.has('tasks') || embed.has('readiness') ? tasksOf(ctx, app) : undefined,
    nodes: nodeOf(ctx),
    embed,
    deployments: lockingDeployments(app),
  });
}

/** GET /v2/apps: `?id=` and `?cmd=` match case-insensitive substrings, `?label=` is a selector on the app's labels. Counts and deployments always (Marathon adds them). */
export function listApps(ctx: ApiContext, query: Record<string, unknown>, reply: FastifyReply): FastifyReply {
  const embed = embedsOf(query['embed'], ['counts', 'deployments']);
  const id = typeof query['id'] === 'string' ? query['id'].toLowerCase() : undefined;
  const cmd = typeof query['cmd'] === 'string' ? query['cmd'].toLowerCase() : undefined;
  let selector;
  try {
    selector = typeof query['label'] === 'string' ? parseSelector(query['label']) : undefined;
  } catch (error) {
    if (error instanceof SelectorError) return badRequest(reply, say.badSelector(error.message));
    throw error;
  }
  const apps = cachedApps(ctx)
    .filter((app) => id === undefined || marathonIdOf(app).toLowerCase().includes(id))
    .map((app) => marathonApp(ctx, app, embed))
    .filter((json) => cmd === undefined || String(json['cmd'] ?? '').toLowerCase().includes(cmd))
    .filter((json) => selector === undefined || matches(selector, json['labels'] as Record<string, string> | undefined));
  return reply.send({ apps });
}

/** GET /v2/apps/{id} → `{app}`; `/v2/apps/{group}/*` → `{"*": [...]}` for every app in the group. Tasks, counts, deployments and the last failure always, as Marathon. */
export async function showApp(ctx: ApiContext, id: string, query: Record<string, unknown>, reply: FastifyReply): Promise<FastifyReply> {
  const embed = embedsOf(query['embed'], ['counts', 'tasks', 'lastTaskFailure', 'deployments']);
  if (id === '/*' || id.endsWith('/*')) {
    const group = id.slice(0, -1);
    const apps = cachedApps(ctx).filter((app) => marathonIdOf(app).startsWith(group));
    return reply.send({ '*': apps.map((app) => marathonApp(ctx, app, embed)) });
  }
  const app = await readApp(ctx, id);
  if (!app) return notFound(reply, say.unknownApp(id));
  return reply.send({ app: marathonApp(ctx, app as DeepReadonly<App>, embed) });
}

/** The App's Revisions, newest first. */
function revisionsOf(ctx: ApiContext, app: DeepReadonly<App>): DeepReadonly<Revision>[] {
  const revisions = ctx.informers.informer('Revision').byIndex('owner', app.metadata.uid ?? '') as DeepReadonly<Revision>[];
  return [...revisions].sort((a, b) => b.spec.number - a.spec.number);
}

const versionOf = (revision: DeepReadonly<Revision>) => new Date(revision.metadata.creationTimestamp ?? 0).toISOString();

/** The App's Revision whose version (creation time) is `version`, compared as instants. */
export function revisionAt(ctx: ApiContext, app: DeepReadonly<App>, version: string): DeepReadonly<Revision> | undefined {
  const wanted = Date.parse(version);
  return revisionsOf(ctx, app).find((r) => Date.parse(versionOf(r)) === wanted);
}

/** GET /v2/apps/{id}/versions → `{versions: [...]}`; /versions/{version} → the app as it was then (its template at that revision). */
export async function showVersions(ctx: ApiContext, id: string, version: string | undefined, reply: FastifyReply): Promise<FastifyReply> {
  const app = (await readApp(ctx, id)) as DeepReadonly<App> | undefined;
  if (!app) return notFound(reply, say.unknownApp(id));
  const revisions = revisionsOf(ctx, app);
  if (version === undefined) return reply.send({ versions: revisions.map(versionOf) });
  const revision = revisionAt(ctx, app, version);
  if (!revision) return notFound(reply, say.unknownAppVersion(id, version));
  const then = withTemplateOf(structuredClone(app) as App, revision);
  const json = appToMarathon(then, { nodes: nodeOf(ctx), embed: new Set() });
  return reply.send({ ...json, version: versionOf(revision) });
}
