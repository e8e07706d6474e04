// The native API: Capstan's own objects, every kind (CustomKinds included), in Kubernetes' shapes,
// for dashboards and scripts (api/http/README.md lists the routes).
//
// Reads and watches are served from the server's shared informers, so a thousand dashboards cost etcd
// one watch per kind; writes go through the apply engine (apply.ts), as `capstan apply` does, and
// deletes through the store, as `capstan delete` does. Errors are Kubernetes Status objects.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ApplySetResult } from '../apply/apply.ts';
import { isStoreError } from '../errors.ts';
import type { KindDefinition } from '../kinds/registry.ts';
import { matches, parseSelector, SelectorError, type Selector } from '../labels.ts';
import { parseManifests, type ManifestDocument, type Problem } from '../manifest.ts';
import { translateMarathonDocuments } from '../marathon/documents.ts';
import { API_VERSION, refKey, type AnyObject, type DeepReadonly } from '../object.ts';
import { applyDocuments } from './apply.ts';
import type { ApiContext, RouteModule } from './context.ts';
import { streamWatch, type WatchFormat } from './watch-stream.ts';

/** Bytes a watcher may fall behind before its watch ends (watch-stream.ts). */
export const WATCH_BUFFER_LIMIT_BYTES = 4 * 1024 * 1024;
/** Manifests posted to /api/v1/apply: as large as a Sync's commit may be. */
const APPLY_BODY_LIMIT_BYTES = 32 * 1024 * 1024;
/** What a posted body is called in problems. */
const BODY_FILE = 'body';

export const say = {
  unknownKind: (segment: string, known: string[]) => `unknown resource "${segment}": expected one of ${known.join(', ')} (GET /api/v1/kinds lists them)`,
  namespaced: (plural: string) => `${plural} are namespaced: use /api/v1/namespaces/{namespace}/${plural}/{name}`,
  clusterScoped: (plural: string) => `${plural} are cluster-scoped: use /api/v1/${plural}/{name}`,
  notFound: (kind: string, name: string) => `${kind} "${name}" not found`,
  selector: (message: string) => `labelSelector: ${message}`,
  invalid: (count: number) => `${count} problem${count === 1 ? '' : 's'} in the body: nothing was applied`,
  empty: 'no objects in the body: expected YAML or JSON manifests (Capstan objects, or Marathon apps, groups and pods)',
  failed: (count: number) => `${count} object${count === 1 ? '' : 's'} could not be written; the others were`,
  deleted: (kind: string, name: string) => `${kind} "${name}" deleted`,
} as const;

const listQuery = z.object({
  labelSelector: z.string().optional(),
  watch: z.enum(['true', 'false', '1', '0']).optional(),
});
const deleteQuery = z.object({ propagationPolicy: z.enum(['Background', 'Foreground']).optional() });
const applyQuery = z.object({ dryRun: z.enum(['true', 'false', 'All']).optional() });

export interface NativeOptions {
  /** How far a watcher may fall behind (default WATCH_BUFFER_LIMIT_BYTES); tests make it small. */
  watchBufferLimitBytes?: number;
}

export const nativeRoutes: RouteModule = (server, ctx) => registerNativeRoutes(server, ctx, {});

export function registerNativeRoutes(server: FastifyInstance, ctx: ApiContext, options: NativeOptions): void {
  const limitBytes = options.watchBufferLimitBytes ?? WATCH_BUFFER_LIMIT_BYTES;

  server.get('/api/v1/kinds', async () => ({
    kind: 'APIResourceList',
    groupVersion: API_VERSION,
    resources: ctx.registry
      .kinds()
      .map((d) => ({ name: d.plural, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, shortNames: d.shortNames, verbs: ['get', 'list', 'watch', 'apply', 'delete'] }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  }));

  const list = (namespace: string | undefined) => async (request: FastifyRequest<{ Params: { plural: string } }>, reply: FastifyReply) => {
    const definition = kindOr404(ctx, request.params.plural, reply);
    if (!definition) return reply;
    if (namespace !== undefined && !definition.namespaced) return status(reply, 404, 'NotFound', say.clusterScoped(definition.plural));
    const query = listQuery.safeParse(request.query);
    if (!query.success) return status(reply, 400, 'BadRequest', queryProblem(query.error));
    let selector: Selector | undefined;
    try {
      selector = query.data.labelSelector ? parseSelector(query.data.labelSelector) : undefined;
    } catch (error) {
      if (error instanceof SelectorError) return status(reply, 400, 'BadRequest', say.selector(error.message));
      throw error;
    }
    const informer = ctx.informers.informer(definition.kind);
    await informer.start();
    const admits = (object: DeepReadonly<AnyObject>) =>
      (namespace === undefined || object.metadata.namespace === namespace) && (!selector || matches(selector, object.metadata.labels));
    if (query.data.watch === 'true' || query.data.watch === '1') {
      const format: WatchFormat = (request.headers.accept ?? '').includes('text/event-stream') ? 'sse' : 'ndjson';
      reply.hijack();
      streamWatch({
        source: informer,
        admits,
        response: reply.raw,
        format,
        limitBytes,
        onOverflow: (bytes) => ctx.log.warn({ kind: definition.kind, bytes }, 'watch closed: the client fell behind'),
      });
      return reply;
    }
    const items = informer.list(admits).sort((a, b) => refKey(a.metadata).localeCompare(refKey(b.metadata)));
    return { apiVersion: API_VERSION, kind: `${definition.kind}List`, metadata: {}, items };
  };

  const get = (request: FastifyRequest<{ Params: { plural: string; name: string; namespace?: string } }>, reply: FastifyReply) =>
    withScope(ctx, request.params, reply, async (definition) => {
      const informer = ctx.informers.informer(definition.kind);
      await informer.start();
      const { namespace, name } = request.params;
      const object = informer.get(refKey({ namespace: definition.namespaced ? namespace : undefined, name }));
      return object ?? status(reply, 404, 'NotFound', say.notFound(definition.kind, name));
    });

  const remove = (request: FastifyRequest<{ Params: { plural: string; name: string; namespace?: string } }>, reply: FastifyReply) =>
    withScope(ctx, request.params, reply, async (definition) => {
      const query = deleteQuery.safeParse(request.query);
      if (!query.success) return status(reply, 400, 'BadRequest', queryProblem(query.error));
      const { namespace, name } = request.params;
      try {
        const deleted = await ctx.store.delete(definition.kind, { namespace, name }, { propagationPolicy: query.data.propagationPolicy });
        if (!deleted) return status(reply, 404, 'NotFound', say.notFound(definition.kind, name));
        return { apiVersion: 'v1', kind: 'Status', status: 'Success', message: say.deleted(definition.kind, name), details: { name, kind: definition.kind, uid: deleted.metadata.uid } };
      } catch (error) {
        if (isStoreError(error, 'Conflict')) return status(reply, 409, 'Conflict', error.message);
        throw error;
      }
    });

  server.get('/api/v1/:plural', list(undefined));
  server.get<{ Params: { plural: string; namespace: string } }>('/api/v1/namespaces/:namespace/:plural', (request, reply) => list(request.params.namespace)(request, reply));
  server.get('/api/v1/:plural/:name', get);
  server.get('/api/v1/namespaces/:namespace/:plural/:name', get);
  server.delete('/api/v1/:plural/:name', remove);
  server.delete('/api/v1/namespaces/:namespace/:plural/:name', remove);

  // Manifests are parsed here, from text, so problems carry their line and column: the body is
  // read as a string whatever its content type (YAML is a superset of JSON). Capstan YAML and
  // Marathon JSON are both taken, as `capstan apply -f` takes them.
  void server.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: APPLY_BODY_LIMIT_BYTES }, (_request, body, done) => done(null, body));
    scope.post('/api/v1/apply', { bodyLimit: APPLY_BODY_LIMIT_BYTES }, async (request, reply) => {
      const query = applyQuery.safeParse(request.query);
      if (!query.success) return status(reply, 400, 'BadRequest', queryProblem(query.error));
      const dryRun = query.data.dryRun === 'true' || query.data.dryRun === 'All';
      const parsed = parseManifests(typeof request.body === 'string' ? request.body : '', BODY_FILE);
      const { documents, problems: parseProblems } = translate(parsed.documents, parsed.problems);
      if (documents.length === 0 && parseProblems.length === 0) return status(reply, 400, 'BadRequest', say.empty);
      const { problems, result } = await applyDocuments(ctx, documents, { dryRun, parseProblems });
      if (problems) return invalid(reply, problems);
      return applied(reply, result!, dryRun);
    });
  });
}

/**
 * Marathon JSON (an app, an array of apps, a group, a pod) → Capstan documents, as `capstan apply`
 * takes it; Capstan documents pass through. Problems of the translation come after the parser's.
 */
function translate(documents: ManifestDocument[], parseProblems: Problem[]): { documents: ManifestDocument[]; problems: Problem[] } {
  const translated = translateMarathonDocuments(documents);
  return { documents: translated.documents, problems: [...parseProblems, ...translated.problems] };
}

/** A query parameter zod refused, as one sentence: `dryRun: Invalid option: expected one of ...`. */
function queryProblem(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
}

/** The kind the path names; answers 404 when none. */
function kindOr404(ctx: ApiContext, segment: string, reply: FastifyReply): KindDefinition | undefined {
  const definition = ctx.registry.find(segment);
  if (!definition) status(reply, 404, 'NotFound', say.unknownKind(segment, ctx.registry.kinds().map((d) => d.plural).sort()));
  return definition;
}

/** The kind the path names, reached by the path its scope calls for (namespaced or not), or a 404. */
async function withScope(
  ctx: ApiContext,
  params: { plural: string; namespace?: string },
  reply: FastifyReply,
  handle: (definition: KindDefinition) => Promise<unknown>,
): Promise<unknown> {
  const definition = kindOr404(ctx, params.plural, reply);
  if (!definition) return reply;
  if (definition.namespaced && params.namespace === undefined) return status(reply, 404, 'NotFound', say.namespaced(definition.plural));
  if (!definition.namespaced && params.namespace !== undefined) return status(reply, 404, 'NotFound', say.clusterScoped(definition.plural));
  return handle(definition);
}

/** A Kubernetes Status: how the native API answers a failure. */
function status(reply: FastifyReply, code: number, reason: string, message: string, details?: unknown): FastifyReply {
  return reply.code(code).send({ apiVersion: 'v1', kind: 'Status', status: 'Failure', reason, code, message, ...(details === undefined ? {} : { details }) });
}

/** 422 with every problem: where (file, line, column), which field, what was expected and found. */
function invalid(reply: FastifyReply, problems: readonly Problem[]): FastifyReply {
  const causes = problems.map((p) => ({
    field: p.path,
    message: `${p.file}:${p.line}:${p.column}: ${p.path ? `${p.path}: ` : ''}expected ${p.expected}, found ${p.found}`,
    line: p.line,
    column: p.column,
    expected: p.expected,
    found: p.found,
  }));
  return status(reply, 422, 'Invalid', say.invalid(problems.length), { causes });
}

/** What became of each object: 200, or 409 when some could not be written (a conflict that kept recurring). */
function applied(reply: FastifyReply, result: ApplySetResult, dryRun: boolean): FastifyReply {
  const objects = result.objects.map((o) => ({
    outcome: o.outcome,
    kind: o.manifest.kind,
    namespace: o.manifest.metadata.namespace,
    name: o.manifest.metadata.name,
    ...(o.outcome === 'failed' ? { problem: o.problem } : { object: o.object }),
  }));
  const failed = objects.filter((o) => o.outcome === 'failed').length;
  return reply.code(failed > 0 ? 409 : 200).send({
    apiVersion: API_VERSION,
    kind: 'ApplyResult',
    dryRun,
    ...(failed > 0 ? { message: say.failed(failed) } : {}),
    objects,
  });
}
