// The gitops controller: two ControllerDefinitions over the two kinds (api/kinds/gitrepository.ts
// says why there are two). `gitrepositories` fetches; `syncs` applies what was fetched. Both only
// need a cache directory, where git keeps one bare repository per URL across syncs and restarts.
import type { SyncSpec, SyncStatus } from '../../api/kinds/sync.ts';
import type { InformerEvent } from '../../api/informer.ts';
import { refKey, type DeepReadonly, type AnyObject } from '../../api/object.ts';
import type { Caches, ControllerDefinition } from '../contract.ts';
import { reconcileRepository } from './repository.ts';
import { reconcileSync } from './sync.ts';

export interface GitopsOptions {
  /** Where fetched repositories are kept (`capstan controllers --git-cache-dir`). */
  cacheDir: string;
  /** The webhook receiver's secret, when one runs: each GitRepository's status.webhookPath is derived from it. */
  webhookSecret?: Uint8Array;
}

const specOf = (sync: DeepReadonly<AnyObject>) => sync.spec as DeepReadonly<SyncSpec>;
const keyOf = (object: DeepReadonly<AnyObject>) => refKey({ namespace: object.metadata.namespace, name: object.metadata.name });
const syncsOf = (caches: Caches, namespace: string | undefined, wanted: (sync: DeepReadonly<AnyObject>) => boolean) =>
  caches('Sync').list((sync) => sync.metadata.namespace === namespace && wanted(sync)).map(keyOf);

/** A Sync, and the Syncs that depend on it (they wait for it to be Ready). */
function syncAndDependents(event: InformerEvent, caches: Caches): string[] {
  const { namespace, name } = event.object.metadata;
  return [keyOf(event.object), ...syncsOf(caches, namespace, (sync) => specOf(sync).dependsOn?.some((d) => d.name === name) ?? false)];
}

/** The Syncs a GitRepository feeds. */
function syncsOfRepository(event: InformerEvent, caches: Caches): string[] {
  const { namespace, name } = event.object.metadata;
  return syncsOf(caches, namespace, (sync) => specOf(sync).sourceRef?.name === name);
}

/** The Syncs whose inventory holds an App: its health is in their status. */
function syncsHoldingApp(event: InformerEvent, caches: Caches): string[] {
  const { namespace, name } = event.object.metadata;
  return caches('Sync')
    .list((sync) => ((sync.status as DeepReadonly<SyncStatus> | undefined)?.inventory ?? []).some((o) => o.kind === 'App' && o.namespace === namespace && o.name === name))
    .map(keyOf);
}

export function gitRepositoriesController(options: GitopsOptions): ControllerDefinition {
  return {
    name: 'gitrepositories',
    watches: [{ kind: 'GitRepository' }],
    // git runs as child processes: a few repositories fetched at once do not wait on each other.
    concurrency: 4,
    reconcile: (key, ctx) => reconcileRepository(key, ctx, options),
  };
}

export function syncsController(options: GitopsOptions): ControllerDefinition {
  return {
    name: 'syncs',
    watches: [
      { kind: 'Sync', map: syncAndDependents },
      { kind: 'GitRepository', map: syncsOfRepository },
      { kind: 'App', map: syncsHoldingApp },
    ],
    primaryKind: 'Sync',
    concurrency: 4,
    reconcile: (key, ctx) => reconcileSync(key, ctx, options),
  };
}

export function gitopsControllers(options: GitopsOptions): ControllerDefinition[] {
  return [gitRepositoriesController(options), syncsController(options)];
}
