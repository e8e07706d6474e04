import { describe, expect, it } from 'vitest';
import type { HealthCheck, ReadinessCheck } from '../../api/kinds/app.ts';
import type { HealthResult, TaskStatus } from '../../api/kinds/task.ts';
import { foldHealth, foldReadiness, initialHealth, nextTaskHealth, reasons, type HealthChange, type ProbeOutcome } from './fold.ts';

const started = '2026-01-01T00:00:00.000Z';
const t = (seconds: number) => new Date(Date.parse(started) + seconds * 1000);
const fresh: HealthResult = { index: 0, alive: false, consecutiveFailures: 0 };
const pass: ProbeOutcome = { ok: true, detail: 'HTTP 200' };
const fail: ProbeOutcome = { ok: false, cause: 'HTTP 500' };

/** Folds a sequence of (second, outcome) and returns each change and the final state. */
function run(steps: [number, ProbeOutcome][], check = { gracePeriodSeconds: 5, maxConsecutiveFailures: 3 }) {
  let state = fresh;
  const changes: HealthChange[] = [];
  for (const [second, outcome] of steps) {
    const folded = foldHealth(state, outcome, { at: t(second), startedAt: started, check });
    state = folded.state;
    changes.push(folded.change);
  }
  return { state, changes };
}

describe('foldHealth: Marathon grace period, consecutive failures, transitions', () => {
  it.each<[string, [number, ProbeOutcome][], HealthChange[], number]>([
    ['the first success is a transition, the next ones are not', [[1, pass], [2, pass]], ['alive', 'none'], 0],
    ['failures inside the grace period are ignored', [[1, fail], [2, fail], [3, fail], [4, fail]], ['none', 'none', 'none', 'none'], 0],
    ['a failure after the grace period counts', [[6, fail]], ['dead'], 1],
    ['after the first success, failures count even inside the grace period', [[1, pass], [2, fail]], ['alive', 'dead'], 1],
    ['maxConsecutiveFailures failures in a row kill', [[6, fail], [7, fail], [8, fail]], ['dead', 'none', 'kill'], 3],
    ['a success in between resets the count', [[6, fail], [7, fail], [8, pass], [9, fail], [10, fail]], ['dead', 'none', 'alive', 'dead', 'none'], 2],
  ])('%s', (_name, steps, changes, failures) => {
    const result = run(steps);
    expect(result.changes).toEqual(changes);
    expect(result.state.consecutiveFailures).toBe(failures);
  });

  it('maxConsecutiveFailures 0 never kills', () => {
    const steps: [number, ProbeOutcome][] = Array.from({ length: 10 }, (_, i) => [10 + i, fail]);
    expect(run(steps, { gracePeriodSeconds: 0, maxConsecutiveFailures: 0 }).changes).not.toContain('kill');
  });

  it('records first and last success, last failure and its cause', () => {
    const { state } = run([[1, pass], [2, pass], [3, fail]]);
    expect(state).toEqual({
      index: 0,
      alive: false,
      consecutiveFailures: 1,
      firstSuccess: t(1).toISOString(),
      lastSuccess: t(2).toISOString(),
      lastFailure: t(3).toISOString(),
      lastFailureCause: 'HTTP 500',
    });
  });

  it('resumes from the stored result (a new leader), so a known-alive check flipping is one transition', () => {
    const stored = { phase: 'Running', healthResults: [{ index: 0, alive: true, consecutiveFailures: 0, firstSuccess: started, lastSuccess: started }] } as TaskStatus;
    const resumed = initialHealth(stored, 0);
    expect(foldHealth(resumed, pass, { at: t(1), startedAt: started, check: { gracePeriodSeconds: 0, maxConsecutiveFailures: 3 } }).change).toBe('none');
    expect(initialHealth(stored, 1)).toEqual({ index: 1, alive: false, consecutiveFailures: 0 });
  });
});

describe('foldReadiness', () => {
  it.each([
    ['first result', undefined, true, true],
    ['same verdict', { ready: true, lastResponse: 'HTTP 200' }, true, false],
    ['flip', { ready: true, lastResponse: 'HTTP 200' }, false, true],
  ])('%s', (_name, before, ready, changed) => {
    expect(foldReadiness(before, ready, 'HTTP 200').changed).toBe(changed);
  });
});

const http = { protocol: 'HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 5, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0, ignoreHttp1xx: false } as HealthCheck;
const command = { protocol: 'COMMAND', command: 'true', gracePeriodSeconds: 5, intervalSeconds: 1, timeoutSeconds: 1, maxConsecutiveFailures: 3, delaySeconds: 0 } as HealthCheck;
const readiness = { name: 'ready', protocol: 'HTTP', path: '/ready', portName: 'http', intervalSeconds: 1, timeoutSeconds: 1, httpStatusCodesForReady: [200], preserveLastResponse: false } as ReadinessCheck;
const alive = (index: number): HealthResult => ({ index, alive: true, consecutiveFailures: 0, firstSuccess: started, lastSuccess: started });
const dead = (index: number, failures = 1): HealthResult => ({ index, alive: false, consecutiveFailures: failures, lastFailure: started, lastFailureCause: 'HTTP 500' });
const running: TaskStatus = { phase: 'Running', startedAt: started };
const now = t(10);
const condition = (status: TaskStatus | undefined, type: string) => status?.conditions?.find((c) => c.type === type);

describe('nextTaskHealth: merging one prober\'s results into the stored status', () => {
  it.each<[string, HealthCheck[], HealthResult[] | undefined, Map<number, HealthResult>, string | undefined]>([
    ['one check alive → Healthy True', [http], undefined, new Map([[0, alive(0)]]), 'True'],
    ['one check failing → Healthy False', [http], undefined, new Map([[0, dead(0)]]), 'False'],
    ['HTTP alive, COMMAND (the agent\'s) not yet known → Unknown', [http, command], undefined, new Map([[0, alive(0)]]), 'Unknown'],
    ['HTTP alive, COMMAND stored alive → True', [http, command], [alive(1)], new Map([[0, alive(0)]]), 'True'],
    ['HTTP alive, COMMAND stored failing → False', [http, command], [dead(1)], new Map([[0, alive(0)]]), 'False'],
  ])('%s', (_name, healthChecks, stored, health, expected) => {
    const status = { ...running, ...(stored ? { healthResults: stored } : {}) };
    const next = nextTaskHealth({ status, checks: { healthChecks, readinessChecks: [] }, update: { health }, now });
    expect(condition(next, 'Healthy')?.status).toBe(expected);
    const indices = new Set([...(stored ?? []).map((r) => r.index), ...health.keys()]);
    expect(next?.healthResults?.map((r) => r.index)).toEqual([...indices].sort());
  });

  it('does not write a check with no counted result yet', () => {
    const update = { health: new Map([[0, alive(0)], [1, { index: 1, alive: false, consecutiveFailures: 0 }]]) };
    const next = nextTaskHealth({ status: running, checks: { healthChecks: [http, http], readinessChecks: [] }, update, now });
    expect(next?.healthResults).toEqual([alive(0)]);
  });

  it('writes nothing when nothing changed', () => {
    const checks = { healthChecks: [http], readinessChecks: [] };
    const first = nextTaskHealth({ status: running, checks, update: { health: new Map([[0, alive(0)]]) }, now })!;
    expect(nextTaskHealth({ status: first, checks, update: { health: new Map([[0, alive(0)]]) }, now: t(20) })).toBeUndefined();
  });

  it.each(['Starting', 'Failed', 'Killed'] as const)('writes nothing to a task in phase %s', (phase) => {
    const update = { health: new Map([[0, alive(0)]]) };
    expect(nextTaskHealth({ status: { phase }, checks: { healthChecks: [http], readinessChecks: [] }, update, now })).toBeUndefined();
  });

  it('a kill fails the task with the reason and the count', () => {
    const update = { health: new Map([[0, dead(0, 3)]]), kill: { index: 0 } };
    const next = nextTaskHealth({ status: running, checks: { healthChecks: [http], readinessChecks: [] }, update, now })!;
    expect(next.phase).toBe('Failed');
    expect(next.message).toBe('killed after 3 consecutive failed health checks (check 0 (HTTP /): HTTP 500)');
    expect(next.finishedAt).toBe(now.toISOString());
    expect(condition(next, 'Healthy')).toMatchObject({ status: 'False', reason: reasons.killed });
  });

  it.each<[string, Map<number, { ready: boolean; lastResponse: string }>, string | undefined]>([
    ['ready', new Map([[0, { ready: true, lastResponse: 'HTTP 200' }]]), 'True'],
    ['not ready', new Map([[0, { ready: false, lastResponse: 'HTTP 503' }]]), 'False'],
  ])('readiness %s', (_name, states, expected) => {
    const next = nextTaskHealth({ status: running, checks: { healthChecks: [], readinessChecks: [readiness] }, update: { health: new Map(), readiness: states }, now });
    expect(condition(next, 'Ready')?.status).toBe(expected);
    expect(condition(next, 'Healthy')).toBeUndefined();
  });
});
