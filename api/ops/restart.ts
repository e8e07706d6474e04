// Restart an App: stamp it with RESTARTED_AT_ANNOTATION. The stamp is part of a revision's identity,
// so the rollout controller makes a new revision of the same template and replaces every task by the
// rolling-upgrade rules (Marathon's POST /v2/apps/{id}/restart). `capstan rollout restart` and the
// API call it.
import type { AppSpec, AppStatus } from '../kinds/app.ts';
import { RESTARTED_AT_ANNOTATION } from '../kinds/wellknown.ts';
import type { CapstanObject } from '../object.ts';
import { readModifyWrite } from '../read-modify-write.ts';
import type { Store } from '../store.ts';

type App = CapstanObject<AppSpec, AppStatus>;

const MAX_ATTEMPTS = 5;

export type RestartResult = { outcome: 'restarted'; app: App; at: string } | { outcome: 'gone' };

export async function restartApp(options: { store: Store; namespace: string; name: string; now: Date }): Promise<RestartResult> {
  const at = options.now.toISOString();
  const result = await readModifyWrite<App>({
    store: options.store,
    kind: 'App',
    ref: { namespace: options.namespace, name: options.name },
    write: 'update',
    change: (app) => ({ ...app, metadata: { ...app.metadata, annotations: { ...(app.metadata.annotations ?? {}), [RESTARTED_AT_ANNOTATION]: at } } }),
    attempts: MAX_ATTEMPTS,
  });
  if (result.outcome === 'gone') return { outcome: 'gone' };
  return { outcome: 'restarted', app: result.object, at };
}
