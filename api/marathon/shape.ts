// Which Marathon document a manifest document is, if any: apart from the translation (documents.ts)
// so that reading Capstan YAML never loads the translators.
import { isRecord } from './problems.ts';

export type MarathonShape = 'app' | 'apps' | 'group' | 'pod';

/**
 * A document with no apiVersion/kind that looks like Marathon's: which shape. A group lists apps,
 * groups or pods; a pod has `containers` (a list of objects: an app has one `container`); an app has
 * an `id`; an array of apps is a list of such objects.
 */
export function marathonShapeOf(value: unknown): MarathonShape | undefined {
  if (Array.isArray(value)) return value.length > 0 && value.every((item) => marathonShapeOf(item) === 'app') ? 'apps' : undefined;
  if (!isRecord(value) || 'apiVersion' in value || 'kind' in value) return undefined;
  if (['apps', 'groups', 'pods'].some((field) => Array.isArray(value[field]))) return 'group';
  if (Array.isArray(value.containers) && value.containers.length > 0 && value.containers.every(isRecord)) return 'pod';
  if (typeof value.id === 'string') return 'app';
  return undefined;
}
