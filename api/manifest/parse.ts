// Manifest text → documents, each with a way to find where a field is written (line:column). Valid
// YAML takes a fast path (js-yaml); positions come from the `yaml` package's syntax tree, built only
// when a problem has to be located, once per file.
import { CORE_SCHEMA, loadAll } from 'js-yaml';
import { LineCounter, isMap, isScalar, isSeq, parseAllDocuments } from 'yaml';
import type { Node as YamlNode } from 'yaml';

export type Path = (string | number)[];

export interface Position {
  line: number;
  column: number;
}

export interface ManifestDocument {
  file: string;
  /** 0-based index of the document in its file, counting empty documents too. */
  index: number;
  /** The document as plain JavaScript. */
  value: unknown;
  /** Where the field at `path` is written, or its nearest parent that is. */
  locate(path: Path): Position;
  /** How a problem names the field at `path` when not by the path itself: a translated Marathon document names the Marathon field. */
  describe?(path: Path): string;
}

export interface Problem extends Position {
  file: string;
  /** Like `spec.containers[0].cmd`; empty for the document as a whole. */
  path: string;
  expected: string;
  found: string;
}

const say = {
  yaml: 'valid YAML',
} as const;

/** Splits the text into documents; YAML syntax errors become problems and their documents are dropped. */
export function parseManifests(text: string, file: string): { documents: ManifestDocument[]; problems: Problem[] } {
  return parseFast(text, file) ?? parseLocated(text, file);
}

/**
 * The common case, valid YAML, parsed by js-yaml (several times faster than building the `yaml`
 * package's syntax tree). Positions are needed only to report a problem, so the tree with positions
 * is built the first time a document is asked where a field is, once per file. Any YAML error sends
 * the whole file through the located parser instead, which reports it with its line.
 */
function parseFast(text: string, file: string): { documents: ManifestDocument[]; problems: Problem[] } | undefined {
  let values: unknown[];
  try {
    values = loadAll(text, undefined, { schema: CORE_SCHEMA, filename: file });
  } catch {
    return undefined;
  }
  let located: ManifestDocument[] | undefined;
  const locatedDocument = (ordinal: number) => {
    located ??= parseLocated(text, file).documents;
    return located[ordinal];
  };
  const documents: ManifestDocument[] = [];
  values.forEach((value, index) => {
    if (value === null || value === undefined) return;
    const ordinal = documents.length;
    documents.push({ file, index, value, locate: (path) => locatedDocument(ordinal)?.locate(path) ?? { line: 1, column: 1 } });
  });
  return { documents, problems: [] };
}

function parseLocated(text: string, file: string): { documents: ManifestDocument[]; problems: Problem[] } {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const documents: ManifestDocument[] = [];
  const problems: Problem[] = [];
  const at = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  parsed.forEach((document, index) => {
    if (document.errors.length > 0) {
      for (const error of document.errors) problems.push({ file, ...at(error.pos[0]), path: '', expected: say.yaml, found: yamlErrorText(error.message) });
      return;
    }
    // A document that is empty or only comments (a trailing `---`, say) is not an object to apply.
    if (document.contents === null || (isScalar(document.contents) && document.contents.value === null)) return;
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: 100 });
    } catch (error) {
      problems.push({ file, ...at(document.contents.range[0]), path: '', expected: say.yaml, found: yamlErrorText((error as Error).message) });
      return;
    }
    const root = document.contents;
    documents.push({ file, index, value, locate: (path) => at(offsetOf(root, path)) });
  });
  return { documents, problems };
}

function yamlErrorText(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '').trim();
}

/**
 * The offset where `path` is written: a mapping entry's key (so the column points at the field's
 * name), a list's item, or — when the path goes past what the document holds — the deepest part
 * that exists.
 */
function offsetOf(root: YamlNode, path: Path): number {
  let node: unknown = root;
  let offset = root.range?.[0] ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) return offset;
      offset = (isScalar(pair.key) && pair.key.range?.[0]) || offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment]) {
      node = node.items[segment];
      offset = (node as YamlNode).range?.[0] ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

