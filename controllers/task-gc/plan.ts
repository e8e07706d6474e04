// What the task gc does, computed from plain facts: how a gone node's task ends, and which ended
// tasks of an App go. No imports, so `capstan controllers --help` can name the default without
// loading the controllers.

/** Ended tasks kept per App (`capstan controllers --terminal-task-history`). */
export const DEFAULT_TERMINAL_TASK_HISTORY = 5;

export interface OrphanFacts {
  /** Finished, Failed, Killed or Lost. */
  terminal: boolean;
  /** Still holds the agent's finalizer. */
  held: boolean;
}

/**
 * A task of a node that is gone: Lost unless it ended already, then released (its agent finalizer
 * removed). In that order, as the nodes controller expunges: releasing a task being deleted
 * completes its deletion, and it should end with the phase that says why.
 */
export function planOrphan(task: OrphanFacts): { lose: boolean; release: boolean } {
  return { lose: !task.terminal, release: task.held };
}

export interface HistoryFacts {
  name: string;
  /**
   * `ended`: Finished, Failed or Lost, what lastTaskFailure, `logs --previous` and debugging look
   * at. `killed`: stopped on purpose, by something other than its deletion (the agents of `capstan
   * up` stopping everything on Ctrl-C, a `docker stop` by hand).
   */
  state: 'live' | 'ended' | 'killed';
  deleting: boolean;
  createdAt: string;
  finishedAt?: string;
}

/**
 * The ended tasks of one App to delete: every killed one, as Marathon expunges a killed task at
 * once (nothing to debug, and it was replaced), and the ended ones beyond the newest `keep` (by when
 * they ended). Tasks already being deleted are neither kept nor counted.
 */
export function beyondHistory(tasks: readonly HistoryFacts[], keep: number): string[] {
  const candidates = tasks.filter((t) => !t.deleting);
  const killed = candidates.filter((t) => t.state === 'killed').map((t) => t.name);
  const ended = candidates.filter((t) => t.state === 'ended');
  const newestFirst = [...ended].sort((a, b) => (b.finishedAt ?? b.createdAt).localeCompare(a.finishedAt ?? a.createdAt) || a.name.localeCompare(b.name));
  return [...killed, ...newestFirst.slice(keep).map((t) => t.name)];
}
