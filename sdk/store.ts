// A store for a user's process: connected to the cluster's etcd, knowing the built-in kinds, every
// CustomKind stored (kinds defined with no code, and those other controllers installed), and the
// kinds given in code, which win over their stored CustomKind: the code has the full definition.
import { connectEtcd, ensureReachable } from '../api/etcd.ts';
import { builtinRegistry } from '../api/kinds/builtin.ts';
import { loadCustomKinds } from '../api/kinds/custom.ts';
import type { KindDefinition } from '../api/kinds/registry.ts';
import { Store } from '../api/store.ts';

export interface OpenStoreOptions {
  /** etcd's client URL(s), e.g. http://127.0.0.1:2379 (comma-separated for several). */
  etcd: string;
  /** Kinds defined in code (defineKind) to register beside the built-in ones. */
  kinds?: readonly KindDefinition[];
  /** How long to wait for etcd's first answer before saying it is unreachable. Default 3 s. */
  connectTimeoutMs?: number;
}

export interface OpenedStore {
  store: Store;
  /** Closes the etcd connection. */
  close(): void;
}

/** Connects and reads the stored CustomKinds; an etcd that does not answer is one clear error. */
export async function openStore(options: OpenStoreOptions): Promise<OpenedStore> {
  const client = connectEtcd({ endpoints: options.etcd });
  try {
    const registry = builtinRegistry();
    const bootstrap = new Store(client, registry);
    const { items } = await ensureReachable(client, options.etcd, options.connectTimeoutMs ?? 3_000, () => bootstrap.list('CustomKind'));
    loadCustomKinds(registry, items);
    for (const kind of options.kinds ?? []) registry.register(kind);
    return { store: new Store(client, registry), close: () => client.close() };
  } catch (error) {
    client.close();
    throw error;
  }
}
