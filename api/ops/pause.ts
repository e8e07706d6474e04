// Pause and resume an App's rollout: the PAUSED_ANNOTATION the rollout controller reads, which holds
// the rollout where it is (old and new tasks both kept) until it is removed. `capstan rollout
// pause|resume` and Marathon's `DELETE /v2/deployments/{id}?force=true` (stop the deployment where it
// is, without rolling back) call it.
import type { AppSpec, AppStatus } from '../kinds/app.ts';
import { PAUSED_ANNOTATION } from '../kinds/wellknown.ts';
import type { CapstanObject } from '../object.ts';
import { readModifyWrite } from '../read-modify-write.ts';
import type { Store } from '../store.ts';

type App = CapstanObject<AppSpec, AppStatus>;

const MAX_ATTEMPTS = 5;

export type PauseResult = { outcome: 'paused' | 'resumed' | 'unchanged'; app: App } | { outcome: 'gone' };

/** `paused: true` sets the annotation, `false` removes it; unchanged when it already says so. */
export async function setPaused(options: { store: Store; namespace: string; name: string; paused: boolean }): Promise<PauseResult> {
  const result = await readModifyWrite<App>({
    store: options.store,
    kind: 'App',
    ref: { namespace: options.namespace, name: options.name },
    write: 'update',
    change: (app) => {
      const annotations = { ...(app.metadata.annotations ?? {}) };
      if ((annotations[PAUSED_ANNOTATION] === 'true') === options.paused) return undefined;
      if (options.paused) annotations[PAUSED_ANNOTATION] = 'true';
      else delete annotations[PAUSED_ANNOTATION];
      return { ...app, metadata: { ...app.metadata, annotations } };
    },
    attempts: MAX_ATTEMPTS,
  });
  if (result.outcome === 'gone') return { outcome: 'gone' };
  return { outcome: result.outcome === 'unchanged' ? 'unchanged' : options.paused ? 'paused' : 'resumed', app: result.object };
}
