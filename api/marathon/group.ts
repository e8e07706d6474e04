// Marathon groups ⇄ Apps. A group is only a folder of ids to Capstan: its apps and pods become Apps
// (app.ts, pod.ts), its dependencies are written onto every App inside it, and a dependency on a
// group means every App of that group. Back, the tree is rebuilt from the Apps' Marathon ids alone,
// so a group exists while an App is inside it, as Marathon's implicit groups do.
import { formatPath } from '../manifest.ts';
import type { AnyObject, DeepReadonly } from '../object.ts';
import { appFromMarathon, appToMarathon } from './app.ts';
import { marathonIdOf, refOfMarathonId, resolveMarathonId } from './ids.ts';
import { isMarathonPod, podFromMarathon, podToMarathon } from './pod.ts';
import { MARATHON_DEPENDENCIES_ANNOTATION } from './annotations.ts';
import { checkFields, isFalse, type FieldRule } from './fields.ts';
import { describe, isRecord, Translation, type MarathonProblem, type Path } from './problems.ts';

type Json = Record<string, unknown>;

/** A group's fields: `version` (and versionInfo) is what a GET returns, read-only here as in an app. */
const GROUP_FIELDS: Readonly<Record<string, FieldRule>> = {
  id: 'read',
  apps: 'read',
  groups: 'read',
  pods: 'read',
  dependencies: 'read',
  version: 'ignored',
  versionInfo: 'ignored',
  enforceRole: { why: 'Capstan has no Mesos roles to enforce', accepts: isFalse },
  scaleBy: { why: 'a definition says how many instances each app has; scale an app with `capstan scale APP N` or PUT /v2/apps/{id}' },
};

const say = {
  list: (what: string) => `a list of ${what}`,
  object: (what: string) => `${what} definition (an object)`,
  id: 'a Marathon id: "/"-separated names, absolute ("/prod") or relative to the enclosing group ("db", "../db")',
  child: (parent: string) => `an id inside the group ${parent}`,
  unique: 'each id once in the group tree',
  again: (id: string, first: string) => `"${id}" again (first at ${first})`,
  dependency: 'a dependency: the id of an app, a pod or a group',
  found: describe,
} as const;

/** A translated App and, when the translation recorded it, the Marathon path each of its fields came from. */
export interface TranslatedApp {
  app: AnyObject;
  /** Where its definition is, from the document's root. */
  path: Path;
  origin?: (path: readonly (string | number)[]) => Path | undefined;
}

/** Every app/pod of a (nested) group definition, ids resolved against the group, dependencies translated (group dependencies apply to all its apps). */
export function groupFromMarathon(json: unknown, options: { parentId?: string; path?: Path } = {}): { apps: AnyObject[]; problems: MarathonProblem[] } {
  const { translated, problems } = translateGroup(json, options);
  return { apps: translated.map((t) => t.app), problems };
}

/** As groupFromMarathon, each App with where its fields came from (documents.ts locates problems with it). */
export function translateGroup(json: unknown, options: { parentId?: string; path?: Path } = {}): { translated: TranslatedApp[]; problems: MarathonProblem[] } {
  const tree = collect(json, { parentId: options.parentId, path: options.path ?? [], inherited: [], top: true });
  const problems = [...tree.problems, ...duplicates(tree)];
  const translated: TranslatedApp[] = [];
  for (const member of tree.members) {
    const translate = member.kind === 'pod' ? podFromMarathon : appFromMarathon;
    const result: { app?: AnyObject; problems: MarathonProblem[]; origin?: TranslatedApp['origin'] } = translate(member.json, { groupId: member.groupId, path: member.path });
    problems.push(...result.problems);
    // An App read with problems is only what could be read: never passed on to be applied.
    if (!result.app || result.problems.length > 0) continue;
    const dependencies = expand([...member.own, ...member.inherited], tree).filter((id) => id !== member.id);
    translated.push({ app: withDependencies(result.app, dependencies), path: member.path, ...(result.origin ? { origin: result.origin } : {}) });
  }
  return { translated, problems };
}

// ---------------------------------------------------------------------------------------------
// Reading the tree

interface Member {
  /** Absolute Marathon id. */
  id: string;
  kind: 'app' | 'pod';
  json: unknown;
  path: Path;
  groupId: string;
  /** Its own dependencies and those of the groups around it, absolute, groups not yet expanded. */
  own: string[];
  inherited: string[];
}

interface Tree {
  members: Member[];
  /** Every group id of the document, with where it is written. */
  groups: { id: string; path: Path }[];
  /** Every id, group or member, as the walk met them: the first of a repeated id is the one named. */
  ids: { id: string; path: Path }[];
  problems: MarathonProblem[];
}

interface Walk {
  parentId: string | undefined;
  path: Path;
  /** Dependencies of the enclosing groups, absolute. */
  inherited: string[];
  /** The document's own group, not one nested in it. */
  top: boolean;
}

function collect(json: unknown, walk: Walk): Tree {
  const tree: Tree = { members: [], groups: [], ids: [], problems: [] };
  const problem = (path: Path, expected: string, found: string) => tree.problems.push({ path, expected, found });
  const fields = new Translation(walk.path);
  const isGroup = checkFields(fields, json, [], 'group', GROUP_FIELDS);
  tree.problems.push(...fields.problems);
  if (!isGroup) return tree;

  const groupId = groupIdOf(json.id, walk, problem);
  if (groupId === undefined) return tree;
  tree.groups.push({ id: groupId, path: [...walk.path, 'id'] });
  tree.ids.push({ id: groupId, path: [...walk.path, 'id'] });
  const dependencies = [...walk.inherited, ...resolveDependencies(json.dependencies, groupId, [...walk.path, 'dependencies'], problem)];

  for (const kind of ['apps', 'pods'] as const) {
    listOf(json, kind, walk.path, problem).forEach((item, index) => {
      const path = [...walk.path, kind, index];
      if (!isRecord(item)) return problem(path, say.object(kind === 'apps' ? 'an app' : 'a pod'), say.found(item));
      const id = typeof item.id === 'string' ? resolveMarathonId(item.id, groupId) : undefined;
      // An id missing or malformed is the translation's to report, with its own words.
      if (id === undefined) return;
      // Deeper than a direct child is fine: the groups between are implicit, as POST /v2/apps makes them
      // (and `capstan get apps -o marathon`, GET /v2/apps' {"apps": [...]}, applies as the root group).
      if (!isInside(id, groupId)) return problem([...path, 'id'], say.child(groupId), say.found(item.id));
      // Marathon resolves an app's relative dependencies against the app's own parent. They are the
      // translation's to check (app.ts); here they are only read.
      const own = kind === 'apps' ? resolveDependencies(item.dependencies, parentOf(id), [...path, 'dependencies'], () => {}) : [];
      // The id given absolute, so the translation need not know the group it was written in.
      tree.members.push({ id, kind: kind === 'apps' ? 'app' : 'pod', json: { ...item, id }, path, groupId: parentOf(id), own, inherited: dependencies });
      tree.ids.push({ id, path: [...path, 'id'] });
    });
  }
  listOf(json, 'groups', walk.path, problem).forEach((child, index) => {
    const nested = collect(child, { parentId: groupId, path: [...walk.path, 'groups', index], inherited: dependencies, top: false });
    tree.members.push(...nested.members);
    tree.groups.push(...nested.groups);
    tree.ids.push(...nested.ids);
    tree.problems.push(...nested.problems);
  });
  return tree;
}

/**
 * The group's absolute id. The document's own group may leave it out (it is then the parent, the
 * root by default) or name the parent itself (PUT /v2/groups/prod with {"id": "/prod"}); a nested
 * group names itself, inside its parent.
 */
function groupIdOf(id: unknown, walk: Walk, problem: (path: Path, expected: string, found: string) => void): string | undefined {
  const parent = walk.parentId ?? '/';
  const path = [...walk.path, 'id'];
  if (id === undefined && walk.top) return parent;
  const resolved = typeof id === 'string' ? resolveMarathonId(id, parent) : undefined;
  if (resolved === undefined) {
    problem(path, say.id, say.found(id));
    return undefined;
  }
  if ((walk.top && resolved === parent) || isInside(resolved, parent)) return resolved;
  problem(path, say.child(parent), say.found(id));
  return undefined;
}

function resolveDependencies(value: unknown, groupId: string, path: Path, problem: (path: Path, expected: string, found: string) => void): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problem(path, say.list('ids'), say.found(value));
    return [];
  }
  return value.flatMap((dependency, index) => {
    const id = typeof dependency === 'string' ? resolveMarathonId(dependency, groupId) : undefined;
    if (id === undefined || id === '/') {
      problem([...path, index], say.dependency, say.found(dependency));
      return [];
    }
    return [id];
  });
}

function listOf(json: Json, field: 'apps' | 'pods' | 'groups', at: Path, problem: (path: Path, expected: string, found: string) => void): unknown[] {
  const value = json[field];
  if (value === undefined) return [];
  if (Array.isArray(value)) return value;
  problem([...at, field], say.list(field), say.found(value));
  return [];
}

/** An id written twice (two apps, or an app and a group) is one problem per repeat, naming the first. */
function duplicates(tree: Tree): MarathonProblem[] {
  const first = new Map<string, Path>();
  const problems: MarathonProblem[] = [];
  for (const entry of tree.ids) {
    const earlier = first.get(entry.id);
    if (earlier) problems.push({ path: entry.path, expected: say.unique, found: say.again(entry.id, formatPath(earlier)) });
    else first.set(entry.id, entry.path);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Dependencies

/**
 * Each dependency as the ids of Apps: an app or pod of the document stays itself, a group of the
 * document (or any id with members below it) becomes every member inside it, nested groups included,
 * and an id the document does not know is taken as an App elsewhere, as Marathon's deployment plan
 * reads dependencies on what already runs.
 */
function expand(dependencies: readonly string[], tree: Tree): string[] {
  const ids = new Set<string>();
  for (const dependency of dependencies) {
    if (tree.members.some((member) => member.id === dependency)) {
      ids.add(dependency);
      continue;
    }
    const inside = tree.members.filter((member) => isInside(member.id, dependency));
    const isGroup = inside.length > 0 || tree.groups.some((group) => group.id === dependency);
    if (!isGroup) ids.add(dependency);
    for (const member of inside) ids.add(member.id);
  }
  return [...ids];
}

/** The App with the dependencies of its group expanded, written as app.ts writes an app's own: `namespace/name`, and the ids in an annotation. */
function withDependencies(app: AnyObject, dependencies: readonly string[]): AnyObject {
  const translated = ((app.spec as Json).dependencies as unknown[] | undefined) ?? [];
  if (dependencies.length === 0 && translated.length === 0) return app;
  const refs = dependencies.map((id) => {
    const ref = refOfMarathonId(id);
    // An id that maps to no name keeps its text, so the App's own check reports it.
    return 'problem' in ref ? id : `${ref.namespace}/${ref.name}`;
  });
  // The ids as written, so the Marathon view shows them, not the rule's reading of the names.
  const { [MARATHON_DEPENDENCIES_ANNOTATION]: _written, ...others } = app.metadata.annotations ?? {};
  const annotations = dependencies.length > 0 ? { ...others, [MARATHON_DEPENDENCIES_ANNOTATION]: JSON.stringify(dependencies) } : others;
  return { ...app, metadata: { ...app.metadata, annotations }, spec: { ...(app.spec as Json), dependencies: refs } };
}

// ---------------------------------------------------------------------------------------------
// Back: the tree of Apps

interface GroupExtras {
  tasksOf?: (app: DeepReadonly<AnyObject>) => readonly DeepReadonly<AnyObject>[];
  embed?: ReadonlySet<string>;
}

/** The group tree `id` ("/" for root) built from the Apps' Marathon ids: {id, apps: [...appToMarathon], groups: [...], pods: [...], dependencies, version}. */
export function groupToMarathon(id: string, apps: readonly DeepReadonly<AnyObject>[], extras: GroupExtras = {}): Record<string, unknown> | undefined {
  const groupId = resolveMarathonId(id, '/');
  if (groupId === undefined) return undefined;
  const members = apps.map((app) => ({ app, id: marathonIdOf(app) })).filter((member) => isInside(member.id, groupId));
  if (members.length === 0 && groupId !== '/') return undefined;
  return groupOf(groupId, members, extras);
}

interface Placed {
  app: DeepReadonly<AnyObject>;
  id: string;
}

function groupOf(groupId: string, members: readonly Placed[], extras: GroupExtras): Record<string, unknown> {
  const byId = (a: Placed, b: Placed) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const direct = members.filter((member) => parentOf(member.id) === groupId).sort(byId);
  const apps = direct
    .filter((member) => !isMarathonPod(member.app))
    .map((member) => appToMarathon(member.app, { ...(extras.tasksOf ? { tasks: extras.tasksOf(member.app) } : {}), ...(extras.embed ? { embed: extras.embed } : {}) }));
  const pods = direct.filter((member) => isMarathonPod(member.app)).map((member) => podToMarathon(member.app));
  const childIds = [...new Set(members.filter((member) => parentOf(member.id) !== groupId).map((member) => childOf(groupId, member.id)))].sort();
  const groups = childIds.map((childId) => groupOf(childId, members.filter((member) => isInside(member.id, childId)), extras));
  const versions = [...apps, ...pods, ...groups].map((child) => child.version).filter((version): version is string => typeof version === 'string');
  // Capstan keeps no group of its own: dependencies live on the Apps, a group's version is its newest member's.
  return { id: groupId, apps, groups, pods, dependencies: [], version: versions.sort().at(-1) ?? EPOCH };
}

const EPOCH = new Date(0).toISOString();

// ---------------------------------------------------------------------------------------------
// Ids as paths

function parentOf(id: string): string {
  const slash = id.lastIndexOf('/');
  return slash <= 0 ? '/' : id.slice(0, slash);
}

/** Strictly below `groupId`. */
function isInside(id: string, groupId: string): boolean {
  return groupId === '/' ? id !== '/' : id.startsWith(`${groupId}/`);
}

/** The group directly inside `groupId` on the way to `id`. */
function childOf(groupId: string, id: string): string {
  const rest = id.slice(groupId === '/' ? 1 : groupId.length + 1);
  const segment = rest.split('/')[0]!;
  return groupId === '/' ? `/${segment}` : `${groupId}/${segment}`;
}
