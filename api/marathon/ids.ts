// Marathon ids ⇄ Capstan namespace/name. Marathon names an app by a path (`/prod/web`), Capstan by a
// namespace and a DNS-label name. The rule: the first segment is the namespace, the rest joined by
// "-" the name, and a one-segment id lives in `default`:
//
//   /web                    → default/web
//   /prod/web               → prod/web
//   /tools/docker/registry  → tools/docker-registry
//
// The rule is not injective (`/a/b-c` and `/a/b/c` both give a/b-c), so the id as written is kept in
// the annotation MARATHON_ID_ANNOTATION and marathonIdOf gives it back exactly; an App without it
// (written as Capstan YAML) maps back by the rule (`default/web` → `/web`, `prod/web` → `/prod/web`).
// An id that does not fit (a segment that is not a DNS label piece, a name over 63 characters) is a
// problem naming the id, never silently rewritten.
import { checkDnsLabel, DEFAULT_NAMESPACE, DNS_LABEL, DNS_LABEL_MAX } from '../object.ts';

export const MARATHON_ID_ANNOTATION = 'marathon.capstan.io/id';

const say = {
  root: (id: string) => `${id} is a group (the root), not an app: give the app an id such as "/web"`,
  segment: (id: string, segment: string) =>
    `${id}: the segment "${segment}" is not a piece of a DNS label (lowercase letters, digits and "-", starting and ending with a letter or digit)`,
  tooLong: (id: string, name: string) =>
    `${id}: its name "${name}" (the segments after the first, joined by "-") has ${name.length} characters, at most ${DNS_LABEL_MAX} fit a Capstan name: shorten the id`,
  namespace: (id: string, namespace: string) => `${id}: its first segment "${namespace}" is the namespace and must be a DNS label`,
};

/**
 * Absolute, normalized id ("/a/b") from an id relative to `base` ("../x", "x", "./x", "/x"), as
 * Marathon resolves an app's id against its group; undefined when the id is empty or climbs above
 * the root. A trailing "/" is dropped; the root is "/".
 */
export function resolveMarathonId(id: string, base = '/'): string | undefined {
  if (typeof id !== 'string' || id.trim() === '') return undefined;
  const start = id.startsWith('/') ? [] : base.split('/').filter((s) => s !== '');
  const segments = [...start];
  for (const segment of id.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (segments.length === 0) return undefined;
      segments.pop();
    } else segments.push(segment);
  }
  return `/${segments.join('/')}`;
}

/** The App an absolute Marathon id names, by the rule above, or why it has none. */
export function refOfMarathonId(id: string): { namespace: string; name: string } | { problem: string } {
  const segments = id.split('/').filter((s) => s !== '');
  if (segments.length === 0) return { problem: say.root(id) };
  const bad = segments.find((segment) => !DNS_LABEL.test(segment));
  if (bad !== undefined) return { problem: say.segment(id, bad) };
  if (segments.length === 1) return refOrProblem(id, DEFAULT_NAMESPACE, segments[0]!);
  const [namespace, ...rest] = segments;
  if (checkDnsLabel(namespace!) !== null) return { problem: say.namespace(id, namespace!) };
  return refOrProblem(id, namespace!, rest.join('-'));
}

function refOrProblem(id: string, namespace: string, name: string): { namespace: string; name: string } | { problem: string } {
  if (name.length > DNS_LABEL_MAX) return { problem: say.tooLong(id, name) };
  if (checkDnsLabel(name) !== null) return { problem: say.segment(id, name) };
  return { namespace, name };
}

/** The Marathon id of an App: the one it was created with, else the rule's (`default/web` → `/web`). */
export function marathonIdOf(object: { metadata: { namespace?: string; name: string; annotations?: Readonly<Record<string, string>> } }): string {
  const kept = object.metadata.annotations?.[MARATHON_ID_ANNOTATION];
  if (kept !== undefined) return kept;
  const namespace = object.metadata.namespace ?? DEFAULT_NAMESPACE;
  return namespace === DEFAULT_NAMESPACE ? `/${object.metadata.name}` : `/${namespace}/${object.metadata.name}`;
}

/** Marathon's task id: `<app id without its leading "/", each "/" → "_">.<task uid>` (`prod_web.0f1e…`). */
export function marathonTaskIdOf(appId: string, taskUid: string): string {
  return `${appId.replace(/^\//, '').replaceAll('/', '_')}.${taskUid}`;
}

/** The app id and task uid of a Marathon task id; undefined when it has no "." (Marathon's ids always have one). */
export function parseMarathonTaskId(id: string): { appId: string; uid: string } | undefined {
  const dot = id.lastIndexOf('.');
  if (dot <= 0 || dot === id.length - 1) return undefined;
  return { appId: `/${id.slice(0, dot).replaceAll('_', '/')}`, uid: id.slice(dot + 1) };
}
