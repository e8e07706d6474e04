// Writes a task's health after a transition: merged into the status as stored (the other prober's
// checks and the agent's phase stay as they are), conditioned on that status, with a fresh read and
// another try after a conflict. A task gone, re-created (another uid), or no longer Running gets no
// write: a terminal phase is final.
import { readModifyWrite } from '../../api/read-modify-write.ts';
import type { Store } from '../../api/store.ts';
import { nextTaskHealth, type HealthUpdate } from './fold.ts';
import type { ProbedTask } from './task-probes.ts';

const MAX_ATTEMPTS = 5;

export async function writeHealth(options: { store: Store; cached: ProbedTask | undefined; uid: string; update: HealthUpdate; now?: () => Date }): Promise<void> {
  const { store, cached, uid, update } = options;
  if (!cached) return;
  await readModifyWrite<ProbedTask>({
    store,
    kind: 'Task',
    ref: { namespace: cached.metadata.namespace, name: cached.metadata.name, uid },
    from: { object: cached },
    write: 'updateStatus',
    change: (current) => {
      const status = nextTaskHealth({ status: current.status, checks: current.spec.template, update, now: options.now?.() ?? new Date() });
      return status && { ...current, status };
    },
    attempts: MAX_ATTEMPTS,
  });
}
