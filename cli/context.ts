// The connection every store command needs: an etcd client that was seen answering, and a registry
// holding the built-in kinds plus the user's CustomKinds as stored, so a kind defined with no code
// works with every command.
//
// The etcd client and the kinds load when a command first asks for the session, not with this
// module: help, usage errors and commands that never reach the store do without them.
import type { Etcd3 } from 'etcd3';
import type { KindRegistry } from '../api/kinds/registry.ts';
import type { Store } from '../api/store.ts';
import type { CliConfig } from './config.ts';
import type { CliIO } from './io.ts';
import type { TxnLimits } from '../api/txn.ts';

export interface Session {
  client: Etcd3;
  store: Store;
  registry: KindRegistry;
  close(): void;
}

/** What every command receives: the resolved config and where to write. */
export interface CommandContext {
  config: CliConfig;
  io: CliIO;
  /** Connects on first use; commands that never reach the store (help, usage errors) never connect. */
  session(): Promise<Session>;
  /**
   * Resolves when the user asks the command to stop (SIGINT/SIGTERM). Calling it takes the signals
   * over from Node's default (exit at once): only watches and daemons do.
   */
  untilInterrupted(): Promise<void>;
}

/**
 * `txnLimits`: what the etcd takes in one transaction. Only a caller that started etcd itself knows
 * it was started with raised limits (`capstan up`: RAISED_TXN_LIMITS); anyone else gets etcd's defaults.
 */
export async function openSession(config: CliConfig, options: { txnLimits?: TxnLimits } = {}): Promise<Session> {
  const [{ connectEtcd, ensureReachable }, { builtinRegistry }, { loadCustomKinds }, { Store }] = await Promise.all([
    import('../api/etcd.ts'),
    import('../api/kinds/builtin.ts'),
    import('../api/kinds/custom.ts'),
    import('../api/store.ts'),
  ]);
  const client = connectEtcd({ endpoints: config.etcd });
  try {
    const registry = builtinRegistry();
    const bootstrap = new Store(client, registry);
    // The first read tells whether etcd answers: no status call of its own before it.
    const { items } = await ensureReachable(client, config.etcd, 3_000, () => bootstrap.list('CustomKind'));
    loadCustomKinds(registry, items);
    return { client, store: new Store(client, registry, undefined, options.txnLimits), registry, close: () => client.close() };
  } catch (error) {
    client.close();
    throw error;
  }
}
