// Scale an App: write spec.instances and nothing else (Marathon's most frequent change), so the App
// keeps its applied set and the next apply of a manifest that sets `instances` wins again. A
// read-modify-write on a fresh read: a concurrent writer makes it read again, never lose its change.
// `capstan scale` and the API's scale paths (PUT {instances}, kill tasks with scale) call it.
import { isResident, type AppSpec, type AppStatus } from '../kinds/app.ts';
import type { CapstanObject } from '../object.ts';
import { readModifyWrite } from '../read-modify-write.ts';
import type { Store } from '../store.ts';

type App = CapstanObject<AppSpec, AppStatus>;

const MAX_ATTEMPTS = 5;

export type ScaleResult =
  | { outcome: 'scaled' | 'unchanged'; app: App; before: number; resident: boolean }
  | { outcome: 'beingDeleted' }
  | { outcome: 'gone' };

/** Sets the App's instances to `instances`, or (with `by`) changes them by that many, never below 0. */
export async function scaleApp(options: { store: Store; namespace: string; name: string } & ({ instances: number } | { by: number })): Promise<ScaleResult> {
  let before = 0;
  let deleting = false;
  const result = await readModifyWrite<App>({
    store: options.store,
    kind: 'App',
    ref: { namespace: options.namespace, name: options.name },
    write: 'update',
    change: (current) => {
      deleting = current.metadata.deletionTimestamp !== undefined;
      if (deleting) return undefined;
      before = current.spec.instances;
      const instances = 'instances' in options ? options.instances : Math.max(0, before + options.by);
      if (instances === before) return undefined;
      return { ...current, spec: { ...current.spec, instances } };
    },
    attempts: MAX_ATTEMPTS,
  });
  if (result.outcome === 'gone') return { outcome: 'gone' };
  if (deleting) return { outcome: 'beingDeleted' };
  return { outcome: result.outcome === 'unchanged' ? 'unchanged' : 'scaled', app: result.object, before, resident: isResident(result.object.spec) };
}
