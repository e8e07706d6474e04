// Kinds a controller defines in code (sdk/define-kind.ts) reach every other process — the CLI, other
// controllers — as CustomKind objects. The Manager installs them when it starts: created when
// absent, updated when the code's definition changed (a new version of the controller), left alone
// when equal. Every replica does it; the writes are conditional, so two starting at once agree.
import { readModifyWrite } from '../api/read-modify-write.ts';
import { deepEqual } from '../api/merge.ts';
import type { AnyObject } from '../api/object.ts';
import type { Store } from '../api/store.ts';

/** A kind that can describe itself as a CustomKind: what defineKind returns. */
export interface InstallableKind {
  kind: string;
  customKindObject(): AnyObject;
}

export function isInstallableKind(value: unknown): value is InstallableKind {
  return typeof value === 'object' && value !== null && typeof (value as InstallableKind).customKindObject === 'function';
}

/** Creates or updates each kind's CustomKind; returns the names written (empty when all were current). */
export async function installKinds(store: Store, kinds: readonly InstallableKind[]): Promise<string[]> {
  const written: string[] = [];
  for (const kind of kinds) {
    const wanted = kind.customKindObject();
    const result = await readModifyWrite({
      store,
      kind: 'CustomKind',
      ref: { name: wanted.metadata.name },
      write: 'createOrUpdate',
      attempts: 5,
      change: (current) => {
        if (!current) return wanted;
        const labels = { ...current.metadata.labels, ...wanted.metadata.labels };
        if (deepEqual(current.spec, wanted.spec) && deepEqual(current.metadata.labels ?? {}, labels)) return undefined;
        return { ...current, metadata: { ...current.metadata, labels }, spec: wanted.spec } as AnyObject;
      },
    });
    if (result.outcome !== 'unchanged') written.push(wanted.metadata.name);
  }
  return written;
}
