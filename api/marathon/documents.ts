// Manifest documents that are Marathon JSON (an app, an array of apps, a group, a pod) → Capstan
// documents, so `capstan apply`, `diff` and `delete -f` take them beside Capstan YAML and the apply
// engine validates and writes them as any other. JSON is YAML, so api/manifest/parse.ts already knows
// where every field of a JSON file is written: a translated document keeps its source's positions,
// and a problem Capstan's schema finds in a translated App is shown at the Marathon field it came from
// (the translation's record of origins), named by its Marathon path.
import { formatPath } from '../manifest.ts';
import type { ManifestDocument, Path, Problem } from '../manifest/parse.ts';
import { appFromMarathon } from './app.ts';
import { translateGroup, type TranslatedApp } from './group.ts';
import { podFromMarathon } from './pod.ts';
import type { MarathonProblem } from './problems.ts';
import { marathonShapeOf, type MarathonShape } from './shape.ts';

export { marathonShapeOf, type MarathonShape } from './shape.ts';

/**
 * Parsed manifest documents (api/manifest/parse.ts) → Capstan documents: Marathon ones translated
 * (each App a document of its own, in the source's file and at its index), others passed through;
 * the translations' problems with file:line:col.
 */
export function translateMarathonDocuments(documents: readonly ManifestDocument[]): { documents: ManifestDocument[]; problems: Problem[] } {
  const translated: ManifestDocument[] = [];
  const problems: Problem[] = [];
  for (const document of documents) {
    const shape = marathonShapeOf(document.value);
    if (shape === undefined) {
      translated.push(document);
      continue;
    }
    const result = translate(shape, document.value);
    // In reading order: the translation meets fields in its own order, the reader scans the file.
    problems.push(...result.problems.map((problem) => located(document, problem)).sort((a, b) => a.line - b.line || a.column - b.column));
    translated.push(...result.translated.map((app) => documentOf(document, app)));
  }
  return { documents: translated, problems };
}

function translate(shape: MarathonShape, value: unknown): { translated: TranslatedApp[]; problems: MarathonProblem[] } {
  if (shape === 'group') return translateGroup(value);
  if (shape === 'apps') {
    const results = (value as unknown[]).map((item, index) => one(appFromMarathon(item, { path: [index] }), [index]));
    return { translated: results.flatMap((r) => r.translated), problems: results.flatMap((r) => r.problems) };
  }
  return one(shape === 'pod' ? podFromMarathon(value, { path: [] }) : appFromMarathon(value, { path: [] }), []);
}

type Translated = { app?: TranslatedApp['app']; problems: MarathonProblem[]; origin?: TranslatedApp['origin'] };

function one(result: Translated, path: Path): { translated: TranslatedApp[]; problems: MarathonProblem[] } {
  // An App read with problems is only what could be read: never passed on to be validated again.
  if (!result.app || result.problems.length > 0) return { translated: [], problems: result.problems };
  return { translated: [{ app: result.app, path, ...(result.origin ? { origin: result.origin } : {}) }], problems: result.problems };
}

function located(document: ManifestDocument, problem: MarathonProblem): Problem {
  return { file: document.file, ...document.locate(problem.path), path: formatPath(problem.path), expected: problem.expected, found: problem.found };
}

/**
 * The App as a document of the source's file: a problem that validation finds later (a store-wide
 * rule, a duplicate) is located, and named, by the Marathon field its Capstan field came from; a
 * field the translation made up (a default) falls back to the app's `id`, keeping its Capstan name so
 * the message still says which field.
 */
function documentOf(source: ManifestDocument, translated: TranslatedApp): ManifestDocument {
  const field = (path: Path) => marathonField(source.value, translated, path);
  return {
    file: source.file,
    index: source.index,
    value: translated.app,
    locate: (path) => source.locate(field(path) ?? [...translated.path, 'id']),
    describe: (path) => formatPath(field(path) ?? path),
  };
}

/**
 * The Marathon path of a Capstan path: the origin the translation recorded for its longest prefix,
 * plus the rest of the path when the JSON has that field under it by the same name
 * (`spec.ports[0].servicePort` ← `portDefinitions[0]` + `servicePort`).
 */
function marathonField(json: unknown, translated: TranslatedApp, path: Path): Path | undefined {
  if (!translated.origin) return undefined;
  for (let length = path.length; length > 0; length--) {
    const base = translated.origin(path.slice(0, length));
    if (base === undefined) return undefined;
    // The origin of a shorter prefix being the same means the recorded one is shorter still.
    const shorter = length > 1 ? translated.origin(path.slice(0, length - 1)) : undefined;
    if (shorter !== undefined && samePath(shorter, base)) continue;
    const full = [...base, ...path.slice(length)];
    return hasField(json, full) ? full : base;
  }
  return undefined;
}

function samePath(a: Path, b: Path): boolean {
  return a.length === b.length && a.every((segment, index) => segment === b[index]);
}

function hasField(json: unknown, path: Path): boolean {
  let value = json;
  for (const segment of path) {
    if (value === null || typeof value !== 'object' || !(segment in value)) return false;
    value = (value as Record<string | number, unknown>)[segment];
  }
  return true;
}
