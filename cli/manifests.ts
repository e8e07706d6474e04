// Reading and validating the whole input of apply, diff and delete -f before anything is written:
// every problem of every file is reported at once, with its file:line:col.
import { validateSet, type ValidSet } from '../api/apply/validate.ts';
import type { KindRegistry } from '../api/kinds/registry.ts';
import { formatProblem, parseManifests, type ManifestDocument, type Problem } from '../api/manifest.ts';
import { marathonShapeOf } from '../api/marathon/shape.ts';
import type { AnyObject } from '../api/object.ts';
import type { CommandContext, Session } from './context.ts';
import { CliError } from './errors.ts';
import { palette } from './io.ts';
import { readSources } from './sources.ts';

export interface LoadOptions {
  files: readonly string[];
  /** The store to check against, and the registry that CustomKinds of the input are loaded into. */
  session: Pick<Session, 'store' | 'registry'>;
  /** Run the rules that need the store (unique service ports). apply and diff do; delete does not. */
  storeChecks: boolean;
  /** What the summary says was not done, e.g. "nothing was applied". */
  consequence: string;
}

/**
 * The validated objects of every file, CustomKinds first (their kinds must be known before objects
 * of those kinds are written). The kinds that CustomKinds of the input declare are loaded into
 * `registry`, so the store can write their objects. Any problem: all are printed and a CliError
 * thrown, before anything is written. The validation is the apply engine's (api/apply/validate.ts).
 */
export async function loadManifests(ctx: CommandContext, options: LoadOptions): Promise<AnyObject[]> {
  return [...(await loadSet(ctx, options)).objects];
}

/** As loadManifests, the set as the apply engine takes it (api/apply/apply.ts applySet). */
export async function loadSet(ctx: CommandContext, options: LoadOptions): Promise<ValidSet> {
  const sources = await readSources(options.files, { cwd: ctx.config.cwd, stdin: ctx.io.stdin });
  const documents: ManifestDocument[] = [];
  const parseProblems: Problem[] = [];
  for (const source of sources) {
    const parsed = parseManifests(source.text, source.file);
    const translated = await withMarathonTranslated(parsed.documents);
    documents.push(...translated.documents.map((doc) => withDefaultNamespace(doc, ctx, options.session.registry)));
    parseProblems.push(...parsed.problems, ...translated.problems);
  }
  const { registry, store } = options.session;
  const validation = await validateSet({ documents, parseProblems, registry, ...(options.storeChecks ? { store } : {}) });
  if (!validation.valid) {
    reportProblems(ctx, validation.problems);
    throw new CliError(summary(validation.problems, options.consequence), 1);
  }
  if (validation.set.objects.length === 0) throw new CliError(`no objects found in ${options.files.join(', ')}: expected YAML or JSON manifests, or Marathon JSON (an app, an array of apps, a group, a pod)`);
  return validation.set;
}

/**
 * Marathon JSON (an app, an array of apps, a group, a pod) becomes Apps, their ids naming their
 * namespaces; the translators load only when a document is Marathon's.
 */
async function withMarathonTranslated(documents: ManifestDocument[]): Promise<{ documents: ManifestDocument[]; problems: Problem[] }> {
  if (!documents.some((doc) => marathonShapeOf(doc.value) !== undefined)) return { documents, problems: [] };
  return (await import('../api/marathon/documents.ts')).translateMarathonDocuments(documents);
}

function reportProblems(ctx: CommandContext, problems: Problem[]): void {
  const paint = palette(ctx.io.color);
  for (const problem of problems) ctx.io.stderr.write(`${paint.red(formatProblem(problem))}\n`);
}

function summary(problems: Problem[], consequence: string): string {
  const files = new Set(problems.map((p) => p.file)).size;
  const count = `${problems.length} problem${problems.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}`;
  return `${count}: ${consequence}`;
}

/** `-n NS` places objects that name no namespace, as kubectl does; one that names its own keeps it. */
function withDefaultNamespace(doc: ManifestDocument, ctx: CommandContext, registry: KindRegistry): ManifestDocument {
  if (!ctx.config.namespaceExplicit) return doc;
  const value = doc.value as { kind?: unknown; metadata?: { namespace?: unknown } } | null;
  if (!value || typeof value !== 'object' || typeof value.kind !== 'string') return doc;
  if (!registry.find(value.kind)?.namespaced) return doc;
  if (!value.metadata || typeof value.metadata !== 'object' || value.metadata.namespace !== undefined) return doc;
  return { ...doc, value: { ...value, metadata: { ...value.metadata, namespace: ctx.config.namespace } } };
}

/** `app/web`: how objects are named in reports. */
export function displayName(object: { kind: string; metadata: { name: string } }): string {
  return `${object.kind.toLowerCase()}/${object.metadata.name}`;
}
