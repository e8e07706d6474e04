// Annotations the Marathon translation writes on an App, so that reading it back as Marathon JSON
// gives the definition the user wrote where Capstan's spec has one spelling for several of
// Marathon's. Each is read back only while it still agrees with the spec (a later edit in Capstan's
// own terms wins), so none of them can make the Marathon view lie about what runs.
export { MARATHON_ID_ANNOTATION } from './ids.ts';

/** `"true"` on an App translated from a Marathon pod: it is listed under /v2/pods, not /v2/apps. */
export const MARATHON_POD_ANNOTATION = 'marathon.capstan.io/pod';

/** The dependencies as written (JSON array of absolute ids), since the id rule cannot be reversed. */
export const MARATHON_DEPENDENCIES_ANNOTATION = 'marathon.capstan.io/dependencies';

/**
 * The health checks' protocols as written (JSON array), where Capstan's spelling differs: MESOS_HTTP,
 * MESOS_HTTPS and MESOS_TCP run as HTTP, HTTPS and TCP (Capstan's node agent probes its own tasks, as
 * the Mesos agent does).
 */
export const MARATHON_HEALTH_PROTOCOLS_ANNOTATION = 'marathon.capstan.io/healthCheckProtocols';

/** A pod's endpoints: which container declared each port (JSON object, port name → container name). */
export const MARATHON_ENDPOINTS_ANNOTATION = 'marathon.capstan.io/endpoints';

/** Reads a JSON annotation; undefined when absent or not what it should be. */
export function jsonAnnotation<T>(annotations: Readonly<Record<string, string>> | undefined, key: string, accepts: (value: unknown) => value is T): T | undefined {
  const text = annotations?.[key];
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return accepts(value) ? value : undefined;
  } catch {
    // Edited by hand into something else: the spec alone is then the truth, as for an App with none.
    return undefined;
  }
}

export function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

export function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}
