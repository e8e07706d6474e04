// What the drivers hold on this node, by task uid: filled from driver.list() at start, then kept by
// the agent's own starts, stops and removals and by the drivers' exit reports.
//
// The races this file exists for:
// - An exit can be reported before the agent has recorded the start that produced it (a workload
//   that dies at once): it is held and applied when the start is recorded.
// - A list() in flight while the agent starts or removes a task may miss that change: its result
//   does not overwrite a uid touched since the list began.
// - An exit is final: a container once seen exited is not brought back by a stale list.
// - A mixed pod has one part per driver under one uid: a driver's list speaks only for its own part.
import type { ContainerState, DriverName, RunningTask, TaskExit } from '../driver.ts';
import type { Workload, WorkloadPart } from './plan.ts';

export class Workloads {
  private readonly byUid = new Map<string, Workload>();
  private readonly early = new Map<string, TaskExit[]>();
  /** uid → change count, to tell which uids a list result may overwrite. */
  private readonly touched = new Map<string, number>();

  get view(): ReadonlyMap<string, Workload> {
    return this.byUid;
  }

  get(uid: string): Workload | undefined {
    return this.byUid.get(uid);
  }

  /** Records one driver's part of a start (or of a list), with any exit of its containers reported before it. */
  set(part: WorkloadPart): Workload {
    const uid = part.running.taskUid;
    this.touch(uid);
    let running = part.running;
    const mine = (exit: TaskExit) => running.containers.some((c) => c.name === exit.container);
    const early = this.early.get(uid) ?? [];
    for (const exit of early.filter(mine)) running = withExit(running, exit);
    const others = early.filter((exit) => !mine(exit));
    if (others.length > 0) this.early.set(uid, others);
    else this.early.delete(uid);
    const parts = (this.byUid.get(uid)?.parts ?? []).filter((p) => p.driver !== part.driver);
    const next = { parts: [...parts, { ...part, running }] };
    this.byUid.set(uid, next);
    return next;
  }

  recordExit(exit: TaskExit): void {
    this.touch(exit.taskUid);
    const workload = this.byUid.get(exit.taskUid);
    const part = workload?.parts.find((p) => p.running.containers.some((c) => c.name === exit.container));
    if (!workload || !part) this.early.set(exit.taskUid, [...(this.early.get(exit.taskUid) ?? []), exit]);
    else this.byUid.set(exit.taskUid, { parts: workload.parts.map((p) => (p === part ? { ...p, running: withExit(p.running, exit) } : p)) });
  }

  /** After a stop resolved: every container has exited, whether or not its exit report came yet. */
  markStopped(uid: string): void {
    const workload = this.byUid.get(uid);
    if (!workload) return;
    this.touch(uid);
    const finishedAt = new Date().toISOString();
    const stopped = (c: ContainerState): ContainerState =>
      c.state === 'exited' ? c : { ...c, state: 'exited', exit: { exitCode: null, signal: null, outcome: 'stopped', reason: 'was stopped by the agent', finishedAt } };
    this.byUid.set(uid, { parts: workload.parts.map((p) => ({ ...p, running: { ...p.running, containers: p.running.containers.map(stopped) } })) });
  }

  forget(uid: string): void {
    this.touch(uid);
    this.byUid.delete(uid);
    this.early.delete(uid);
  }

  /** A mark to pass to `merge` with the list taken after it. */
  mark(): ReadonlyMap<string, number> {
    return new Map(this.touched);
  }

  /** Takes one driver's list() as the truth for its parts of every uid not touched since `mark`. */
  merge(driver: DriverName, listed: readonly RunningTask[], mark: ReadonlyMap<string, number>): void {
    const untouched = (uid: string) => this.touched.get(uid) === mark.get(uid);
    const seen = new Set<string>();
    for (const running of listed) {
      seen.add(running.taskUid);
      if (!untouched(running.taskUid)) continue;
      const known = this.byUid.get(running.taskUid)?.parts.find((p) => p.driver === driver);
      this.set({ driver, running: known ? keepExits(running, known.running) : running });
    }
    for (const [uid, workload] of this.byUid) {
      if (seen.has(uid) || !untouched(uid) || !workload.parts.some((p) => p.driver === driver)) continue;
      // The driver no longer holds its part: drop that part only, the other driver's stays.
      const parts = workload.parts.filter((p) => p.driver !== driver);
      this.touch(uid);
      if (parts.length === 0) this.forget(uid);
      else this.byUid.set(uid, { parts });
    }
  }

  private touch(uid: string): void {
    this.touched.set(uid, (this.touched.get(uid) ?? 0) + 1);
  }
}

function withExit(running: RunningTask, exit: TaskExit): RunningTask {
  const { taskUid: _uid, container, ...details } = exit;
  const previous = running.containers.find((c) => c.name === container);
  const exited: ContainerState = { name: container, state: 'exited', pid: previous?.pid, startedAt: previous?.startedAt ?? details.finishedAt, exit: details };
  const containers = previous ? running.containers.map((c) => (c.name === container ? exited : c)) : [...running.containers, exited];
  return { ...running, containers };
}

function keepExits(listed: RunningTask, known: RunningTask): RunningTask {
  const containers = listed.containers.map((c) => {
    const before = known.containers.find((k) => k.name === c.name);
    return before?.state === 'exited' && c.state === 'running' ? before : c;
  });
  return { ...listed, containers };
}
