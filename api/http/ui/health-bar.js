// Marathon's health bar: segments computed from an App's status counts, as Marathon's UI computes
// them (AppHealthBarComponent): running tasks split by health, staged, then the tasks beyond the
// wanted instances (over capacity) and the wanted instances not launched (unscheduled). Each width
// is the segment's share of the sum of all six, as Marathon draws it.

/** @typedef {'healthy'|'unhealthy'|'unknown'|'staged'|'overCapacity'|'unscheduled'} SegmentName */
/** @typedef {{ name: SegmentName, count: number, percent: number }} Segment */

export const SEGMENTS = /** @type {const} */ (['healthy', 'unhealthy', 'unknown', 'staged', 'overCapacity', 'unscheduled']);

/**
 * @param {{ instances?: number, running?: number, healthy?: number, unhealthy?: number, staged?: number } | undefined} status
 * @param {number} wanted spec.instances
 * @returns {Segment[]}
 */
export function healthSegments(status, wanted) {
  const s = status ?? {};
  const running = s.running ?? 0;
  const staged = s.staged ?? 0;
  const healthy = Math.min(s.healthy ?? 0, running);
  const unhealthy = Math.min(s.unhealthy ?? 0, running - healthy);
  const counts = {
    healthy,
    unhealthy,
    unknown: Math.max(0, running - healthy - unhealthy),
    staged,
    overCapacity: Math.max(0, running + staged - wanted),
    unscheduled: Math.max(0, wanted - running - staged),
  };
  const total = SEGMENTS.reduce((sum, name) => sum + counts[name], 0);
  return SEGMENTS.map((name) => ({ name, count: counts[name], percent: total === 0 ? 0 : (100 * counts[name]) / total }));
}
