// One Marathon deployment for a change that wrote several Apps (a group change, a rollback of one):
// each App the change moved to a new generation is stamped with the change's deployment id
// (api/marathon/deployments.ts DEPLOYMENT_ANNOTATION), so GET /v2/deployments lists them as one and
// DELETE /v2/deployments/{id} finds them all. Metadata only: the stamp makes no new generation.
import { randomUUID } from 'node:crypto';
import { DEPLOYMENT_ANNOTATION, deploymentIdOfApp, deploymentStamp } from '../../marathon/deployments.ts';
import type { AnyObject, DeepReadonly } from '../../object.ts';
import { readModifyWrite } from '../../read-modify-write.ts';
import type { ApiContext } from '../context.ts';

const MAX_ATTEMPTS = 5;

/**
 * The deployment id of a change that moved `moved` (each as written, at its new generation): the
 * App's own for one App, else a new id stamped onto each. An App written again since keeps its newer
 * change's id (its generation no longer matches).
 */
export async function deploymentIdOfChange(ctx: ApiContext, moved: readonly DeepReadonly<AnyObject>[]): Promise<string> {
  if (moved.length === 1) return deploymentIdOfApp(moved[0]!);
  const id = randomUUID();
  await Promise.all(moved.map((app) => stamp(ctx, app, id)));
  return id;
}

async function stamp(ctx: ApiContext, app: DeepReadonly<AnyObject>, id: string): Promise<void> {
  const generation = app.metadata.generation ?? 0;
  await readModifyWrite<AnyObject>({
    store: ctx.store,
    kind: 'App',
    ref: { namespace: app.metadata.namespace, name: app.metadata.name, uid: app.metadata.uid },
    write: 'update',
    change: (fresh) =>
      fresh.metadata.generation !== generation
        ? undefined
        : { ...fresh, metadata: { ...fresh.metadata, annotations: { ...(fresh.metadata.annotations ?? {}), [DEPLOYMENT_ANNOTATION]: deploymentStamp(id, generation) } } },
    attempts: MAX_ATTEMPTS,
  });
}
