// RFC 7386 JSON merge patch, what `capstan patch` (and kubectl's `--type merge`) applies: an object
// in the patch merges into the target key by key, `null` removes a key, anything else (arrays
// included) replaces the target's value whole.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (value: unknown): value is Record<string, Json> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The target with the patch applied; neither argument is changed. */
export function mergePatch(target: unknown, patch: unknown): Json {
  if (!isObject(patch)) return patch as Json;
  const result: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}
