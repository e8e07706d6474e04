// Waits of the benches that end with a clear error on a deadline instead of hanging: what was
// expected, how far it got, and what the tasks that did not make it say, e.g.
// "rollout did not finish in 120 s: 99 of 100 Running; task web-7f3k (Failed): exited with code 1".
import type { AppSpec, AppStatus } from '../api/kinds/app.ts';
import type { TaskSpec, TaskStatus } from '../api/kinds/task.ts';
import { APP_LABEL } from '../api/kinds/wellknown.ts';
import type { CapstanObject } from '../api/object.ts';
import type { Store } from '../api/store.ts';
import { until } from '../test/helpers/poll.ts';

type App = CapstanObject<AppSpec, AppStatus>;
type Task = CapstanObject<TaskSpec, TaskStatus>;

/** How many of the tasks that did not make it are named in the error. */
const NAMED_TASKS = 3;

const say = {
  notFinished: (seconds: number, running: number, instances: number, tasks: string) =>
    `rollout did not finish in ${seconds} s: ${running} of ${instances} Running${tasks ? `; ${tasks}` : ''}`,
  task: (name: string, phase: string, message: string | undefined) => `task ${name} (${phase})${message ? `: ${message}` : ''}`,
};

export interface RolloutWait {
  store: Store;
  namespace: string;
  app: string;
  revision: number;
  instances: number;
  timeoutSeconds: number;
}

/** Until the App's rollout to `revision` is Complete; throws what the tasks say when the deadline passes. */
export async function untilRolledOut(wait: RolloutWait): Promise<void> {
  const { store, namespace, app, revision } = wait;
  try {
    await until(
      async () => {
        const object = await store.get<App>('App', { namespace, name: app });
        const rollout = object?.status?.rollout;
        return object?.status?.currentRevision === revision && rollout?.phase === 'Complete' && Boolean(rollout.completedAt);
      },
      { timeoutMs: wait.timeoutSeconds * 1000, intervalMs: 100, what: `${app} complete on revision ${revision}` },
    );
  } catch {
    // The poll's own "timed out" says less than the tasks do.
    throw new Error(await describeRollout(wait));
  }
}

/** "N of M Running" on the revision, and the tasks of the revision that are not Running, newest first. */
export async function describeRollout({ store, namespace, app, revision, instances, timeoutSeconds }: RolloutWait): Promise<string> {
  const tasks = (await store.list<Task>('Task', { namespace, labelSelector: `${APP_LABEL}=${app}` })).items.filter((t) => t.spec.revision === revision);
  const running = tasks.filter((t) => t.status?.phase === 'Running' && !t.metadata.deletionTimestamp).length;
  const stuck = tasks
    .filter((t) => t.status?.phase !== 'Running')
    .sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''))
    .slice(0, NAMED_TASKS)
    .map((t) => say.task(t.metadata.name, t.status?.phase ?? 'Pending', t.status?.message));
  return say.notFinished(timeoutSeconds, running, instances, stuck.join('; '));
}
