// What `edit` and `patch` share: one stored object changed by hand, validated exactly as `apply`
// validates a manifest (api/manifest.ts, store-wide rules included), and written back on condition
// that nobody wrote it since it was read. Status is not part of it: controllers own status and write
// it on its own key, so an edit of it would be silently lost; it is dropped from what is shown, and
// ignored in what comes back.
import type { KindDefinition } from '../api/kinds/registry.ts';
import { validateDocuments, type ManifestDocument, type Problem } from '../api/manifest.ts';
import { mergeForUpdate } from '../api/merge.ts';
import type { AnyObject, ObjectMeta } from '../api/object.ts';
import { objectNotFound, splitKindName } from './command.ts';
import type { CommandContext, Session } from './context.ts';
import { CliError, usageError } from './errors.ts';

export interface EditTarget {
  definition: KindDefinition;
  object: AnyObject;
}

export type EditCheck = { ok: true; object: AnyObject } | { ok: false; problems: Problem[] };

const say = {
  needName: (verb: string) => `${verb} needs KIND NAME (or KIND/NAME)`,
  oneObject: 'exactly one object, the one being edited',
  documents: (count: number) => `${count} objects`,
  same: (what: string, value: string) => `${what} "${value}" (${what === 'kind' ? 'the kind' : 'an object\'s name and namespace'} cannot change; create another object with \`capstan apply\`)`,
} as const;

/** `KIND NAME` or `KIND/NAME` → the stored object, or a CliError naming what was not found. */
export async function readTarget(ctx: CommandContext, session: Session, verb: string, kindArg: string, nameArg: string | undefined): Promise<EditTarget> {
  const [kind, name] = splitKindName(kindArg, nameArg);
  if (name === undefined) throw usageError(say.needName(verb));
  const definition = session.registry.get(kind);
  const namespace = definition.namespaced ? ctx.config.namespace : undefined;
  const object = await session.store.get(definition.kind, { namespace, name });
  if (!object) throw new CliError(objectNotFound(definition, name, namespace));
  return { definition, object };
}

/** The object as a person edits it: everything but status. */
export function editable(object: AnyObject): AnyObject {
  const { status: _status, ...rest } = object;
  return rest;
}

/**
 * Validates the edited documents as apply would (with the store-wide rules, the object itself
 * replaced by its edit), and checks that they are still the one object being edited.
 */
export async function checkEdited(session: Session, original: AnyObject, documents: readonly ManifestDocument[], parseProblems: readonly Problem[]): Promise<EditCheck> {
  const problems = [...parseProblems];
  if (problems.length === 0 && documents.length !== 1) {
    const file = documents[0]?.file ?? '';
    return { ok: false, problems: [{ file, line: 1, column: 1, path: '', expected: say.oneObject, found: say.documents(documents.length) }] };
  }
  const validation = await validateDocuments(documents, session.registry, { store: session.store });
  problems.push(...validation.problems);
  const edited = validation.objects[0];
  if (problems.length > 0 || !edited) return { ok: false, problems };
  const document = documents[0]!;
  const changed: Problem[] = [];
  const at = (path: (string | number)[]) => ({ file: document.file, ...document.locate(path) });
  if (edited.kind !== original.kind) changed.push({ ...at(['kind']), path: 'kind', expected: say.same('kind', original.kind), found: `"${edited.kind}"` });
  if (edited.metadata.name !== original.metadata.name || edited.metadata.namespace !== original.metadata.namespace) {
    const was = `${original.metadata.namespace ? `${original.metadata.namespace}/` : ''}${original.metadata.name}`;
    const is = `${edited.metadata.namespace ? `${edited.metadata.namespace}/` : ''}${edited.metadata.name}`;
    changed.push({ ...at(['metadata', 'name']), path: 'metadata.name', expected: say.same('name', was), found: `"${is}"` });
  }
  return changed.length > 0 ? { ok: false, problems: changed } : { ok: true, object: edited };
}

/**
 * What the update sends: the stored object (its resourceVersion, so the write is conditioned on the
 * read) with the edit's spec and user metadata. Undefined when the edit changes nothing.
 */
export function editedUpdate(original: AnyObject, edited: AnyObject): AnyObject | undefined {
  // The user metadata is the edit's as it stands (a field removed in the file is removed); the
  // store's merge (mergeForUpdate) drops the absent ones and keeps the rest of the stored metadata.
  const { labels, annotations, ownerReferences, finalizers } = edited.metadata;
  const metadata: ObjectMeta = { ...original.metadata, labels, annotations, ownerReferences, finalizers };
  const next = { ...editable(original), apiVersion: edited.apiVersion, metadata, spec: edited.spec };
  // The store's own merge decides "changed", as apply's does.
  return mergeForUpdate(original, next) === original ? undefined : next;
}
