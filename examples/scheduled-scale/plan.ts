// What a schedule says at a moment: pure, no I/O, tested with tables in plan.test.ts.
//
// Windows are wall-clock times in the schedule's time zone. The next change is found by walking the
// window boundaries (every from and to, over the next eight days) in wall-clock order and taking the
// first where the answer differs; the wall-clock distance is then turned into real time with the
// zone's UTC offsets at both ends, so a daylight-saving shift in between does not wake us an hour off.
import type { DeepReadonly } from 'capstan/sdk';
import { DAYS, type ScaleWindow, type ScheduledScaleSpec } from './kind.ts';

/** Plans read objects straight from the controller's cache, which are read-only. */
type CachedSpec = DeepReadonly<ScheduledScaleSpec>;
type CachedWindow = DeepReadonly<ScaleWindow>;

export interface Plan {
  instances: number;
  /** The deciding window, e.g. "Mon,Tue 08:00-18:00", or "otherwise". */
  window: string;
  /** Absent when the schedule gives the same answer all week. */
  next?: { at: Date; instances: number };
}

const MINUTES_PER_DAY = 24 * 60;

interface WallTime {
  /** 0 = Mon ... 6 = Sun */
  day: number;
  minute: number;
  /** ms past the minute */
  ms: number;
}

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export function planAt(spec: CachedSpec, now: Date): Plan {
  const wall = wallTime(now, spec.timeZone);
  const current = decide(spec, wall.day, wall.minute);
  const plan: Plan = { instances: current.instances, window: current.window };
  const boundaries = [...new Set(spec.windows.flatMap((w) => [toMinutes(w.from), toMinutes(w.to)]))];
  const candidates: number[] = [];
  for (let day = 0; day <= 7; day += 1) for (const minute of boundaries) candidates.push(day * MINUTES_PER_DAY + minute);
  candidates.sort((a, b) => a - b);
  for (const candidate of candidates) {
    const ahead = candidate - wall.minute;
    if (ahead <= 0) continue;
    const then = decide(spec, (wall.day + Math.floor(candidate / MINUTES_PER_DAY)) % 7, candidate % MINUTES_PER_DAY);
    if (then.instances === current.instances) continue;
    const naive = now.getTime() + ahead * 60_000 - wall.ms;
    const at = naive - (offsetMs(new Date(naive), spec.timeZone) - offsetMs(now, spec.timeZone));
    plan.next = { at: new Date(at), instances: then.instances };
    break;
  }
  return plan;
}

function decide(spec: CachedSpec, day: number, minute: number): { instances: number; window: string } {
  const window = spec.windows.find((w) => contains(w, day, minute));
  return window ? { instances: window.instances, window: describeWindow(window) } : { instances: spec.otherwise, window: 'otherwise' };
}

function contains(window: CachedWindow, day: number, minute: number): boolean {
  const from = toMinutes(window.from);
  const to = toMinutes(window.to);
  const startsOn = (d: number) => !window.days || window.days.includes(DAYS[d]!);
  if (from < to) return minute >= from && minute < to && startsOn(day);
  // Past midnight (or a full day when from == to): the part before midnight starts today, the part
  // after it started yesterday.
  return (minute >= from && startsOn(day)) || (minute < to && startsOn((day + 6) % 7));
}

export function describeWindow(window: CachedWindow): string {
  return `${window.days ? `${window.days.join(',')} ` : ''}${window.from}-${window.to}`;
}

function toMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

function parts(date: Date, zone: string) {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    weekday: 'short',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  const get = (type: string) => format.formatToParts(date).find((p) => p.type === type)!.value;
  return {
    weekday: get('weekday') as (typeof DAYS)[number],
    year: Number(get('year')),
    month: Number(get('month')),
    day: Number(get('day')),
    hour: Number(get('hour')),
    minute: Number(get('minute')),
    second: Number(get('second')),
  };
}

function wallTime(date: Date, zone: string): WallTime {
  const p = parts(date, zone);
  return { day: DAYS.indexOf(p.weekday), minute: p.hour * 60 + p.minute, ms: p.second * 1000 + date.getUTCMilliseconds() };
}

/** The zone's offset from UTC at `date`, in ms (positive east of Greenwich). */
function offsetMs(date: Date, zone: string): number {
  const p = parts(date, zone);
  const wallAsUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wallAsUtc - (date.getTime() - date.getUTCMilliseconds());
}
