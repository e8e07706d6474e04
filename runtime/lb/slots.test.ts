import { describe, expect, it } from 'vitest';
import { freeSlot, MIN_SLOTS, placeServers, sizeFor, type Address, type BackendSlots } from './slots.ts';

const at = (task: string, port = 31000 + Number(task.replace(/\D/g, ''))): Address => ({ task, address: '127.0.0.1', port });
const tasks = (...names: string[]) => names.map((n) => at(n));
const layout = (slots: BackendSlots) => slots.entries.map((e) => (e ? `${e.task}${e.draining ? '~' : ''}` : '-')).join(' ');

describe('sizeFor', () => {
  it.each([
    [0, MIN_SLOTS],
    [3, MIN_SLOTS],
    [8, 8],
    [9, 16],
    [23, 32],
  ])('%i servers → %i slots', (count, size) => {
    expect(sizeFor(count)).toBe(size);
  });
});

describe('placeServers', () => {
  it('a new backend is shaped around its servers', () => {
    const { next, reshaped } = placeServers(undefined, tasks('t1', 't2', 't3'));
    expect(reshaped).toBe(true);
    expect(layout(next)).toBe('t1 t2 t3 - - - - -');
  });

  it('scaling within the slots changes only the runtime state (3 → 6 → 2)', () => {
    const three = placeServers(undefined, tasks('t1', 't2', 't3')).next;
    const six = placeServers(three, tasks('t1', 't2', 't3', 't4', 't5', 't6'));
    expect(six.reshaped).toBe(false);
    expect(six.changes.map((c) => `${c.type} ${c.slot}`)).toEqual(['ready 3', 'ready 4', 'ready 5']);
    const two = placeServers(six.next, tasks('t1', 't6'));
    expect(two.reshaped).toBe(false);
    expect(two.changes.map((c) => `${c.type} ${c.entry.task}`)).toEqual(['drain t2', 'drain t3', 'drain t4', 'drain t5']);
    expect(layout(two.next)).toBe('t1 t2~ t3~ t4~ t5~ t6 - -');
  });

  it('a replaced task takes a free slot while its predecessor drains in its own', () => {
    const first = placeServers(undefined, tasks('t1', 't2')).next;
    const replaced = placeServers(first, tasks('t1', 't3'));
    expect(replaced.changes.map((c) => `${c.type} ${c.slot} ${c.entry.task}`)).toEqual(['drain 1 t2', 'ready 2 t3']);
    expect(layout(freeSlot(replaced.next, 1, 't2'))).toBe('t1 - t3 - - - - -');
  });

  it('a draining slot is not reused until it is freed, and growing keeps every slot in place', () => {
    let slots = placeServers(undefined, tasks('t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8')).next;
    slots = placeServers(slots, tasks('t1', 't2', 't3', 't4', 't5', 't6', 't7')).next;
    const grown = placeServers(slots, tasks('t1', 't2', 't3', 't4', 't5', 't6', 't7', 't9'));
    expect(grown.reshaped).toBe(true);
    // Grown to twice what it needs (9 in use → 32), so the next steps of a scale-up fit.
    expect(layout(grown.next)).toBe(`t1 t2 t3 t4 t5 t6 t7 t8~ t9${' -'.repeat(23)}`);
  });

  it('growing still reports what changed in the slots HAProxy has, to apply before the reload', () => {
    let slots = placeServers(undefined, tasks('t1', 't2')).next;
    slots = placeServers(slots, tasks('t2')).next;
    const grown = placeServers(slots, tasks('t2', 't3', 't4', 't5', 't6', 't7', 't8', 't9', 't10'));
    expect(grown.reshaped).toBe(true);
    expect(grown.changes.map((c) => `${c.type} ${c.slot} ${c.entry.task}`)).toEqual(['ready 2 t3', 'ready 3 t4', 'ready 4 t5', 'ready 5 t6', 'ready 6 t7', 'ready 7 t8']);
    expect(layout(grown.next)).toBe(`t1~ t2 t3 t4 t5 t6 t7 t8 t9 t10${' -'.repeat(22)}`);
  });

  it('a task that serves again (healthy after a flap) gets its slot back; a moved one its new address', () => {
    let slots = placeServers(undefined, tasks('t1', 't2')).next;
    slots = placeServers(slots, tasks('t1')).next;
    const back = placeServers(slots, [at('t1', 32001), at('t2')]);
    expect(back.changes.map((c) => `${c.type} ${c.slot} ${c.entry.port}`)).toEqual(['ready 0 32001', 'ready 1 31002']);
    expect(layout(back.next)).toBe('t1 t2 - - - - - -');
  });

  it('freeSlot ignores a slot that holds another task or one still serving', () => {
    const slots = placeServers(undefined, tasks('t1')).next;
    expect(freeSlot(slots, 0, 't1')).toBe(slots);
    expect(freeSlot(slots, 0, 't9')).toBe(slots);
  });
});
