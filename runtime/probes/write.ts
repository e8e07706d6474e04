// Writes a task's health after a transition: merged into the status as stored (the other prober's
// checks and the agent's phase stay as they are), conditioned on that status, with a fresh read and
// another try after a conflict. A task gone, re-created (another uid), or no longer Running gets no
// write: a terminal phase is final.
import { isStoreError } from '../../api/errors.ts';
import type { AnyObject } from '../../api/object.ts';
import type { Store } from '../../api/store.ts';
import { nextTaskHealth, type HealthUpdate } from './fold.ts';
import type { ProbedTask } from './task-probes.ts';

const MAX_ATTEMPTS = 5;

export async function writeHealth(options: { store: Store; cached: ProbedTask | undefined; uid: string; update: HealthUpdate; now?: () => Date }): Promise<void> {
  const { store, uid, update } = options;
  let current = options.cached;
  for (let attempt = 1; current && current.metadata.uid === uid; attempt += 1) {
    const status = nextTaskHealth({ status: current.status, checks: current.spec.template, update, now: options.now?.() ?? new Date() });
    if (!status) return;
    try {
      await store.updateStatus({ ...(current as unknown as AnyObject), status });
      return;
    } catch (error) {
      if (isStoreError(error, 'NotFound')) return;
      if (!isStoreError(error, 'Conflict') || attempt >= MAX_ATTEMPTS) throw error;
      current = await store.get<never>('Task', { namespace: current.metadata.namespace, name: current.metadata.name });
    }
  }
}
