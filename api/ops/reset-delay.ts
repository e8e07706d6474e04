// Reset an App's launch delay (Marathon's DELETE /v2/queue/{id}/delay): its next task launches now.
// Status is the controllers', so this stamps the App with LAUNCH_DELAY_RESET_ANNOTATION and the
// replicas controller honours each new stamp once, on the current revision's backoff. Metadata is not
// part of the template: no revision is made, no task replaced. `capstan app reset-delay` and the API
// call it.
import type { AppSpec, AppStatus, LaunchDelay } from '../kinds/app.ts';
import { LAUNCH_DELAY_RESET_ANNOTATION } from '../kinds/wellknown.ts';
import type { CapstanObject } from '../object.ts';
import { readModifyWrite } from '../read-modify-write.ts';
import type { Store } from '../store.ts';

type App = CapstanObject<AppSpec, AppStatus>;

const MAX_ATTEMPTS = 5;

/** `delay`: the launch delay that was running when the stamp was written, if any. */
export type ResetDelayResult = { outcome: 'reset'; app: App; delay: LaunchDelay | undefined } | { outcome: 'gone' };

export async function resetLaunchDelay(options: { store: Store; namespace: string; name: string; now: Date }): Promise<ResetDelayResult> {
  const stamp = options.now.toISOString();
  const result = await readModifyWrite<App>({
    store: options.store,
    kind: 'App',
    ref: { namespace: options.namespace, name: options.name },
    write: 'update',
    change: (app) => ({ ...app, metadata: { ...app.metadata, annotations: { ...(app.metadata.annotations ?? {}), [LAUNCH_DELAY_RESET_ANNOTATION]: stamp } } }),
    attempts: MAX_ATTEMPTS,
  });
  if (result.outcome === 'gone') return { outcome: 'gone' };
  return { outcome: 'reset', app: result.object, delay: result.object.status?.launchDelay };
}
