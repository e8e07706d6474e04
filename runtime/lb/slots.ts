// Server slots: each backend has a fixed number of `server` lines, filled with the serving tasks and
// the rest disabled, so that a task replaced, a scale-down or a scale within the slots changes only
// addresses and states (HAProxy's runtime API), never the configuration's shape (a reload). A slot
// stays with its task while the task serves; a task that stops serving keeps its slot, draining,
// until its connections are gone, so no other task is put behind a server that still has traffic.
//
// Sizes are powers of two from MIN_SLOTS up, and a backend that must grow grows to twice what it
// needs, so the next steps of a scale-up fit: 3 → 6 instances fit without a reload, 6 → 12 reloads
// once (to 32) and 12 → 32 not again. Slots never shrink while the backend exists: a reload to give
// back a few disabled lines would cost more than they do (a disabled server runs no checks).

export const MIN_SLOTS = 8;

export interface Address {
  task: string;
  address: string;
  port: number;
}

export interface SlotEntry extends Address {
  /** No longer in Endpoints: in HAProxy's drain state until its connections reach zero. */
  draining: boolean;
}

/** One backend's slots; `entries.length` is its size, undefined entries are free (disabled). */
export interface BackendSlots {
  entries: (SlotEntry | undefined)[];
}

export type SlotChange =
  /** Put a task in a free slot, or give a draining one back its traffic: set addr/port, then ready. */
  | { type: 'ready'; slot: number; entry: SlotEntry }
  /** The task left Endpoints: stop new connections, let the current ones finish. */
  | { type: 'drain'; slot: number; entry: SlotEntry };

export interface Placement {
  next: BackendSlots;
  /** What the runtime API must do to the slots the running HAProxy has (also before a reload: see below). */
  changes: SlotChange[];
  /** The slots had to grow: the configuration's shape changed and HAProxy reloads with `next`. */
  reshaped: boolean;
}

const nextPowerOfTwo = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

export function sizeFor(count: number): number {
  return Math.max(MIN_SLOTS, nextPowerOfTwo(count));
}

/** Fits `addresses` into the backend's slots, keeping every task that stays where it is. */
export function placeServers(current: BackendSlots | undefined, addresses: readonly Address[]): Placement {
  const entries: (SlotEntry | undefined)[] = current ? current.entries.map((e) => (e ? { ...e } : undefined)) : new Array(sizeFor(addresses.length)).fill(undefined);
  const wanted = new Map(addresses.map((a) => [a.task, a]));
  const changes: SlotChange[] = [];
  const placed = new Set<string>();

  entries.forEach((entry, slot) => {
    if (!entry) return;
    const address = wanted.get(entry.task);
    if (!address) {
      if (!entry.draining) {
        entry.draining = true;
        changes.push({ type: 'drain', slot, entry: { ...entry } });
      }
      return;
    }
    placed.add(entry.task);
    const moved = entry.address !== address.address || entry.port !== address.port;
    if (entry.draining || moved) {
      Object.assign(entry, address, { draining: false });
      changes.push({ type: 'ready', slot, entry: { ...entry } });
    }
  });

  const newcomers = addresses.filter((a) => !placed.has(a.task));
  const free = entries.flatMap((e, slot) => (e ? [] : [slot]));
  // Free slots first, each a runtime change; what does not fit grows the backend.
  newcomers.slice(0, free.length).forEach((address, i) => {
    const slot = free[i]!;
    entries[slot] = { ...address, draining: false };
    changes.push({ type: 'ready', slot, entry: { ...address, draining: false } });
  });
  const overflow = newcomers.slice(free.length);
  // A backend HAProxy does not have yet is a new shape whatever fits; it starts from the configuration.
  if (!current) return { next: { entries: overflow.length ? grow(entries, overflow) : entries }, changes: [], reshaped: true };
  if (overflow.length === 0) return { next: { entries }, changes, reshaped: false };
  // Growing reloads HAProxy. `changes` still says what moved in the slots the running HAProxy has:
  // applied before the reload, they are in the server-state file the new worker loads, which would
  // otherwise restore the old states over the new configuration.
  return { next: { entries: grow(entries, overflow) }, changes, reshaped: true };
}

function grow(entries: (SlotEntry | undefined)[], overflow: readonly Address[]): (SlotEntry | undefined)[] {
  const used = entries.filter(Boolean).length + overflow.length;
  const size = entries.length === 0 ? sizeFor(used) : sizeFor(2 * used);
  const grown = [...entries, ...new Array(Math.max(0, size - entries.length)).fill(undefined)] as (SlotEntry | undefined)[];
  let slot = 0;
  for (const address of overflow) {
    while (grown[slot]) slot += 1;
    grown[slot] = { ...address, draining: false };
  }
  return grown;
}

/** A draining slot whose connections are gone becomes free. */
export function freeSlot(slots: BackendSlots, slot: number, task: string): BackendSlots {
  if (slots.entries[slot]?.task !== task || !slots.entries[slot]?.draining) return slots;
  const entries = [...slots.entries];
  entries[slot] = undefined;
  return { entries };
}

/** HAProxy's server name of a slot: stable across reloads, as the server-state file and runtime API need. */
export const slotName = (slot: number) => `s${slot + 1}`;
