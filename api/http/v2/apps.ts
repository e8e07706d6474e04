// Marathon's v2 apps, tasks and queue routes. Paths below /v2/apps/ hold a Marathon id of any depth,
// so they are one wildcard route per method, split here into the id and what follows it
// (apps-lookup.ts parseAppPath). Reads: apps-read.ts; writes: apps-write.ts (many apps at once:
// apps-update-many.ts); tasks: tasks.ts; queue: queue.ts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext, RouteModule } from '../context.ts';
import { createTogether } from '../create-together.ts';
import { notFound, unprocessable } from '../errors.ts';
import { parseAppPath, say, normalizeId, type AppPath } from './apps-lookup.ts';
import { listApps, showApp, showVersions } from './apps-read.ts';
import { updateApps } from './apps-update-many.ts';
import { createApp, deleteApp, restart, updateApp } from './apps-write.ts';
import { listQueue, resetDelay } from './queue.ts';
import { allTasks, appTasks, killAppTasks, killTasksById } from './tasks.ts';

type Method = 'GET' | 'PUT' | 'PATCH' | 'DELETE' | 'POST';

const query = (request: FastifyRequest) => request.query as Record<string, unknown>;

/** The handler for a method on a path below /v2/apps/, or undefined when Marathon has no such route. */
function dispatch(ctx: ApiContext, method: Method, path: AppPath, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> | FastifyReply | undefined {
  const { id } = path;
  switch (`${method} ${path.part}`) {
    case 'GET app':
      return showApp(ctx, id, query(request), reply);
    case 'PUT app':
      return updateApp(ctx, id, request.body, query(request), reply, { allowCreation: true });
    case 'PATCH app':
      return updateApp(ctx, id, request.body, query(request), reply, { allowCreation: false });
    case 'DELETE app':
      return deleteApp(ctx, id, query(request), reply);
    case 'POST restart':
      return restart(ctx, id, query(request), reply);
    case 'GET tasks':
      return path.part === 'tasks' && path.taskId === undefined ? appTasks(ctx, id, request, reply) : undefined;
    case 'DELETE tasks':
      return killAppTasks(ctx, id, path.part === 'tasks' ? path.taskId : undefined, request, reply);
    case 'GET versions':
      return showVersions(ctx, id, path.part === 'versions' ? path.version : undefined, reply);
    default:
      return undefined;
  }
}

/**
 * Marathon's clients send `Content-Type: application/json` with no body on DELETE and POST
 * /restart (thefactory's python client does): an empty JSON body is no body, as Marathon (Jersey)
 * reads it, not fastify's 400. Any other body is parsed by fastify's own JSON parser.
 */
function bodilessJson(server: FastifyInstance): void {
  const parse = server.getDefaultJsonParser('error', 'error');
  server.removeContentTypeParser('application/json');
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    return parse(request, text, done);
  });
}

export const appsRoutes: RouteModule = (root, ctx) => {
  void root.register(async (server) => {
    bodilessJson(server);
    server.get('/v2/apps', (request, reply) => listApps(ctx, query(request), reply));
    const creates = createTogether(ctx, 'App');
    server.post('/v2/apps', (request, reply) => createApp(ctx, creates, request.body, reply));
    server.put('/v2/apps', (request, reply) => updateApps(ctx, request.body, query(request), reply, { allowCreation: true }));
    server.patch('/v2/apps', (request, reply) => updateApps(ctx, request.body, query(request), reply, { allowCreation: false }));
    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE', 'POST'] as const) {
      server.route({
        method,
        url: '/v2/apps/*',
        handler: async (request, reply) => {
          const path = parseAppPath((request.params as { '*': string })['*']);
          const wildcardGroup = method === 'GET' && path.part === 'app' && path.id.endsWith('*');
          const id = wildcardGroup ? path.id : normalizeId(path.id);
          if (id === undefined) {
            if (method === 'PUT') return unprocessable(reply, [{ path: '/id', errors: [say.invalidId(path.id)] }]);
            return notFound(reply, say.unknownApp(path.id));
          }
          const handled = dispatch(ctx, method, { ...path, id }, request, reply);
          return handled ?? reply.code(405).send({ message: say.notAllowed(method, request.url) });
        },
      });
    }
    server.get('/v2/tasks', (request, reply) => allTasks(ctx, request, reply));
    server.post('/v2/tasks/delete', (request, reply) => killTasksById(ctx, request, reply));
    server.get('/v2/queue', (_request, reply) => listQueue(ctx, reply));
    server.delete('/v2/queue/*', async (request, reply) => {
      const match = /^(.*)\/delay$/.exec((request.params as { '*': string })['*']);
      const id = match ? normalizeId(`/${match[1]}`) : undefined;
      if (!match) return notFound(reply, say.noRoute(request.url));
      return id === undefined ? notFound(reply, say.notInQueue(`/${match[1]}`)) : resetDelay(ctx, id, reply);
    });
  });
};
