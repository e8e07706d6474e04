// The kinds Capstan ships with. A fresh registry per call: no module-level state, so a test or a
// process that loads CustomKinds into its registry affects nobody else's.
import { appKind } from './app.ts';
import { customKindKind } from './custom.ts';
import { endpointsKind } from './endpoints.ts';
import { eventKind } from './event.ts';
import { gitRepositoryKind } from './gitrepository.ts';
import { nodeKind } from './node.ts';
import { KindRegistry } from './registry.ts';
import { revisionKind } from './revision.ts';
import { syncKind } from './sync.ts';
import { taskKind } from './task.ts';
import { volumeKind } from './volume.ts';

export const BUILTIN_KINDS = [appKind, revisionKind, taskKind, nodeKind, endpointsKind, eventKind, customKindKind, gitRepositoryKind, syncKind, volumeKind] as const;

export function builtinRegistry(): KindRegistry {
  const registry = new KindRegistry();
  for (const kind of BUILTIN_KINDS) registry.register(kind);
  return registry;
}
