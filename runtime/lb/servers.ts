// What a backend's slots mean to HAProxy: the server lines rendered for them, the runtime API
// commands that move them, and the configuration's shape (what a reload is needed for). Pure.
import type { LbRenderOptions, LbServer, LbService } from './model.ts';
import { serviceKey } from './model.ts';
import { backendName, renderConfig } from './render.ts';
import type { LbServiceSpec } from './services.ts';
import { slotName, type BackendSlots, type SlotChange } from './slots.ts';

/** What HAProxy's CLI answers when it does not do a command (other answers, such as "IP changed from …", are news). */
export const REFUSALS = /No such|not found|Unknown|Require|invalid|cannot|can't|Failed/i;

/** Runtime API commands for one slot change. */
export function changeCommands(service: LbServiceSpec, change: SlotChange): string[] {
  const target = `${backendName(service)}/${slotName(change.slot)}`;
  if (change.type === 'drain') return [`set server ${target} state drain`];
  return [
    `set server ${target} addr ${change.entry.address} port ${change.entry.port}`,
    `set server ${target} state ready`,
    // Out of maintenance a checked server starts at the lowest health (one failed check takes it
    // down); Endpoints already say the task is healthy and ready, so it gets full health at once, and
    // HAProxy's own checks take it out only after \`fall\` failures.
    ...(service.healthCheck ? [`set server ${target} health up`] : []),
  ];
}

/** Every slot of a backend as it should be: after HAProxy restarted from the file and an old server-state file. */
export function slotCommands(service: LbServiceSpec, slots: BackendSlots): string[] {
  return slots.entries.flatMap((entry, slot) => {
    if (!entry) return [`set server ${backendName(service)}/${slotName(slot)} state maint`];
    const ready = changeCommands(service, { type: 'ready', slot, entry });
    return entry.draining ? [...ready, ...changeCommands(service, { type: 'drain', slot, entry })] : ready;
  });
}

export function withServers(service: LbServiceSpec, slots: BackendSlots): LbService {
  const servers: LbServer[] = slots.entries.map((entry, slot) =>
    entry
      ? { name: slotName(slot), address: entry.address, port: entry.port, task: entry.task, disabled: entry.draining }
      : { name: slotName(slot), address: PLACEHOLDER.address, port: PLACEHOLDER.port, disabled: true },
  );
  return { ...service, servers };
}

/**
 * An empty slot's address: never connected to (the server is disabled), valid for `haproxy -c`. The
 * runtime API gives the slot its task's address when it fills.
 */
const PLACEHOLDER = { address: '127.0.0.1', port: 1 };

/**
 * The configuration with every server blanked: equal for two configurations that differ only in
 * addresses and states, which the runtime API changes without a reload.
 */
export function shapeOf(services: readonly LbService[], render: LbRenderOptions): string {
  const blank = (service: LbService): LbService => ({
    ...service,
    servers: service.servers.map((s) => ({ name: s.name, address: PLACEHOLDER.address, port: PLACEHOLDER.port, disabled: true })),
  });
  return renderConfig(services.map(blank), render).text;
}

export const drainKey = (service: Pick<LbService, 'namespace' | 'app' | 'servicePort'>, slot: number) => `${serviceKey(service)}#${slot}`;

