// A controller process for test/leader.test.ts: runs one elected controller over Widgets and reports
// its leadership on stdout as JSON lines. On the stdin line `write <name>` it writes that Widget with
// the store fenced by the last term it led — even after losing it, to show the fence rejects it.
import { createInterface } from 'node:readline';
import { destination, pino } from 'pino';
import { z } from 'zod';
import { isStoreError } from '../../api/errors.ts';
import { connectEtcd } from '../../api/etcd.ts';
import { Store, type Fence } from '../../api/store.ts';
import { done } from '../../controllers/contract.ts';
import { installSignalHandlers, Manager } from '../../controllers/manager.ts';
import { widgetRegistry } from './kinds.ts';

const config = z
  .object({ ETCD_URL: z.string().min(1), CHILD_ID: z.string().min(1), LEASE_TTL_SECONDS: z.coerce.number().int().min(1) })
  .parse(process.env);

const say = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ ...message, at: Date.now() })}\n`);

const store = new Store(connectEtcd({ endpoints: config.ETCD_URL }), widgetRegistry());
const log = pino({ level: 'warn' }, destination(2));
const manager = new Manager({
  store,
  controllers: [{ name: 'failover', watches: [{ kind: 'Widget' }], reconcile: async () => done() }],
  leaseTtlSeconds: config.LEASE_TTL_SECONDS,
  identity: config.CHILD_ID,
  logger: log,
  shutdownGraceMs: 1_000,
});
await manager.start();
installSignalHandlers(manager, { log });

let lastFence: Fence | undefined;
manager.state$('failover').subscribe((state) => {
  if (state.state === 'leading') lastFence = state.term?.fence;
  say(state.state === 'following' ? { event: 'following', leader: state.leader } : { event: state.state });
});

for await (const line of createInterface({ input: process.stdin })) {
  const [command, name] = line.trim().split(/\s+/);
  if (command !== 'write' || !name || !lastFence) continue;
  const fenced = store.withFence(lastFence);
  try {
    const current = await fenced.mustGet('Widget', { name });
    await fenced.update({ ...current, spec: { ...(current.spec as object), note: config.CHILD_ID } });
    say({ event: 'write', ok: true });
  } catch (error) {
    say({ event: 'write', ok: false, code: isStoreError(error) ? error.code : String(error) });
  }
}
