// /v2/groups: Marathon's group tree, built from the Apps' Marathon ids (api/marathon/group.ts).
// Capstan keeps no group objects: a group exists while an App is inside it. Reads come from the
// server's informers; writes (groups-write.ts) translate the definition and go through the apply
// engine.
//
// `?embed=` as Marathon's: group.groups, group.apps, group.pods (the three by default), and
// group.apps.tasks|counts|deployments|readiness|lastTaskFailure for what each app shows. A field not
// embedded is left out of every group of the tree.
import type { FastifyReply } from 'fastify';
import { groupToMarathon } from '../../marathon/group.ts';
import { resolveMarathonId } from '../../marathon/ids.ts';
import type { ApiContext, RouteModule } from '../context.ts';
import { notFound, unprocessable } from '../errors.ts';
import { cachedApps, many, tasksOf } from './apps-lookup.ts';
import { deleteGroup, writeGroup } from './groups-write.ts';

export const say = {
  unknownGroup: (id: string) => `Group '${id}' does not exist`,
  unknownVersion: (id: string, version: string) => `Group '${id}' does not exist in version ${version}`,
  invalidId: (id: string) => `expected a group id: "/"-separated lowercase DNS label pieces such as /prod/backend, found "${id}"`,
} as const;

const TREE_EMBEDS = ['group.groups', 'group.apps', 'group.pods'] as const;

type Query = Record<string, unknown>;

/** What a path below /v2/groups asks for. */
export type GroupPath = { id: string; part: 'group' } | { id: string; part: 'versions'; version?: string };

/** `prod/backend/versions/2026-…` → group `/prod/backend`, that version; undefined when the id is none. */
export function parseGroupPath(wildcard: string): GroupPath | undefined {
  const segments = wildcard.split('/').filter((s) => s !== '');
  const n = segments.length;
  const at = (count: number) => resolveMarathonId(`/${segments.slice(0, count).join('/')}`);
  const [path, count] =
    n >= 1 && segments[n - 1] === 'versions'
      ? [{ part: 'versions' as const }, n - 1]
      : n >= 2 && segments[n - 2] === 'versions'
        ? [{ part: 'versions' as const, version: decodeURIComponent(segments[n - 1]!) }, n - 2]
        : [{ part: 'group' as const }, n];
  const id = at(count);
  return id === undefined ? undefined : { id, ...path };
}

export const groupsRoutes: RouteModule = (server, ctx) => {
  const routes = (prefix: string, wildcard: (params: unknown) => string) => {
    server.get<{ Querystring: Query }>(prefix, (request, reply) => withPath(wildcard(request.params), reply, (path) => readGroup(ctx, path, request.query, reply)));
    server.post<{ Querystring: Query }>(prefix, (request, reply) =>
      withPath(wildcard(request.params), reply, (path) => writeGroup(ctx, { id: path.id, body: request.body, query: request.query, mode: 'create' }, reply)),
    );
    server.put<{ Querystring: Query }>(prefix, (request, reply) =>
      withPath(wildcard(request.params), reply, (path) => writeGroup(ctx, { id: path.id, body: request.body, query: request.query, mode: 'update' }, reply)),
    );
    server.delete<{ Querystring: Query }>(prefix, (request, reply) => withPath(wildcard(request.params), reply, (path) => deleteGroup(ctx, path.id, request.query, reply)));
  };
  routes('/v2/groups', () => '');
  routes('/v2/groups/*', (params) => (params as { '*': string })['*']);
};

async function withPath(wildcard: string, reply: FastifyReply, handle: (path: GroupPath) => FastifyReply | Promise<FastifyReply>): Promise<FastifyReply> {
  const path = parseGroupPath(wildcard);
  if (!path) return unprocessable(reply, [{ path: '/id', errors: [say.invalidId(wildcard)] }]);
  return handle(path);
}

/** GET a group, its versions (Capstan keeps only the current one: its newest member's), or one version. */
function readGroup(ctx: ApiContext, path: GroupPath, query: Query, reply: FastifyReply): FastifyReply {
  const group = groupJson(ctx, path.id, query['embed']);
  if (!group) return notFound(reply, say.unknownGroup(path.id));
  if (path.part === 'group') return reply.send(group);
  if (path.version === undefined) return reply.send([group['version']]);
  return path.version === group['version'] ? reply.send(group) : notFound(reply, say.unknownVersion(path.id, path.version));
}

/** The group tree `id` as Marathon shows it with `embed`, or undefined when no App is inside it. */
export function groupJson(ctx: ApiContext, id: string, embedQuery: unknown): Record<string, unknown> | undefined {
  const asked = many(embedQuery);
  const embed = new Set(asked.length > 0 ? asked : TREE_EMBEDS);
  // An app embed implies the apps themselves.
  const appEmbeds = new Set([...embed].filter((e) => e.startsWith('group.apps.')).map((e) => e.slice('group.apps.'.length)));
  const tree = groupToMarathon(id, cachedApps(ctx), {
    embed: appEmbeds,
    ...(appEmbeds.has('tasks') ? { tasksOf: (app) => tasksOf(ctx, app) } : {}),
  });
  if (!tree) return undefined;
  return pruned(tree, { groups: embed.has('group.groups'), apps: embed.has('group.apps') || appEmbeds.size > 0, pods: embed.has('group.pods') });
}

function pruned(group: Record<string, unknown>, keep: { groups: boolean; apps: boolean; pods: boolean }): Record<string, unknown> {
  const copy = { ...group };
  if (!keep.apps) delete copy['apps'];
  if (!keep.pods) delete copy['pods'];
  if (!keep.groups) delete copy['groups'];
  else copy['groups'] = (group['groups'] as Record<string, unknown>[]).map((child) => pruned(child, keep));
  return copy;
}
