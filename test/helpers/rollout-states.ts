import type { Etcd3 } from 'etcd3';
import { Informer } from '../../api/informer.ts';
import type { KindDefinition } from '../../api/kinds/registry.ts';
import type { TaskSpec } from '../../api/kinds/task.ts';
import { countTasks } from '../../controllers/replicas/index.ts';

/** One moment of an App's tasks during a rollout, counted as the controllers count them. */
export interface RolloutState {
  at: number;
  live: number;
  healthy: number;
  byRevision: Record<number, { live: number; healthy: number }>;
}

/** Every state of an App's tasks, as an informer on Tasks sees it after each event. */
export async function watchStates(client: Etcd3, taskKind: KindDefinition, app: string) {
  const informer = new Informer(client, taskKind);
  const states: RolloutState[] = [];
  const record = () => {
    const tasks = informer.list((t) => (t.spec as TaskSpec).app === app);
    const byRevision: RolloutState['byRevision'] = {};
    for (const revision of new Set(tasks.map((t) => (t.spec as TaskSpec).revision))) {
      const counts = countTasks(tasks.filter((t) => (t.spec as TaskSpec).revision === revision));
      byRevision[revision] = { live: counts.tasks, healthy: counts.healthy };
    }
    const all = countTasks(tasks);
    states.push({ at: Date.now(), live: all.tasks, healthy: all.healthy, byRevision });
  };
  const subscription = informer.events$.subscribe(record);
  await informer.start();
  record();
  return {
    states,
    async stop() {
      subscription.unsubscribe();
      await informer.stop();
    },
  };
}
