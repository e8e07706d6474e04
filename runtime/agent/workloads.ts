// What the drivers hold on this node, by task uid: filled from driver.list() at start, then kept by
// the agent's own starts, stops and removals and by the drivers' exit reports.
//
// The races this file exists for:
// - An exit can be reported before the agent has recorded the start that produced it (a workload
//   that dies at once): it is held and applied when the start is recorded.
// - A list() in flight while the agent starts or removes a task may miss that change: its result
//   does not overwrite a uid touched since the list began.
// - An exit is final: a container once seen exited is not brought back by a stale list.
import type { ContainerState, DriverName, RunningTask, TaskExit } from '../driver.ts';
import type { Workload } from './plan.ts';

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

  /** Records a start's result, with any exit reported before it. */
  set(workload: Workload): Workload {
    const uid = workload.running.taskUid;
    this.touch(uid);
    let running = workload.running;
    for (const exit of this.early.get(uid) ?? []) running = withExit(running, exit);
    this.early.delete(uid);
    const next = { ...workload, running };
    this.byUid.set(uid, next);
    return next;
  }

  recordExit(exit: TaskExit): void {
    this.touch(exit.taskUid);
    const workload = this.byUid.get(exit.taskUid);
    if (!workload) this.early.set(exit.taskUid, [...(this.early.get(exit.taskUid) ?? []), exit]);
    else this.byUid.set(exit.taskUid, { ...workload, running: withExit(workload.running, exit) });
  }

  /** After a stop resolved: every container has exited, whether or not its exit report came yet. */
  markStopped(uid: string): void {
    const workload = this.byUid.get(uid);
    if (!workload) return;
    this.touch(uid);
    const finishedAt = new Date().toISOString();
    const containers = workload.running.containers.map((c): ContainerState =>
      c.state === 'exited'
        ? c
        : { ...c, state: 'exited', exit: { exitCode: null, signal: null, outcome: 'stopped', reason: 'was stopped by the agent', finishedAt } },
    );
    this.byUid.set(uid, { ...workload, running: { ...workload.running, containers } });
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

  /** Takes one driver's list() as the truth for every uid not touched since `mark`. */
  merge(driver: DriverName, listed: readonly RunningTask[], mark: ReadonlyMap<string, number>): void {
    const untouched = (uid: string) => this.touched.get(uid) === mark.get(uid);
    const seen = new Set<string>();
    for (const running of listed) {
      seen.add(running.taskUid);
      if (!untouched(running.taskUid)) continue;
      const known = this.byUid.get(running.taskUid);
      this.set({ driver, running: known ? keepExits(running, known.running) : running });
    }
    for (const [uid, workload] of this.byUid) {
      if (workload.driver === driver && !seen.has(uid) && untouched(uid)) this.forget(uid);
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
