import { describe, expect, it } from 'vitest';
import { planVolume, type NodeState, type SlotTask } from './plan.ts';

const volume = (deleting = false) => ({ name: 'db-data-1', slot: 1, node: 'n1', deleting });
const task = (name: string, deleting = false): SlotTask => ({ name, deleting });

describe('planVolume', () => {
  it.each<[string, boolean, NodeState, SlotTask[], { phase: string; task?: string; deleteTasks: string[]; release: boolean; message: RegExp }]>([
    ['a live task of its slot on a ready node: Bound to it', false, 'ready', [task('db-x')], { phase: 'Bound', task: 'db-x', deleteTasks: [], release: false, message: /used by task db-x/ }],
    ['no task (scaled down): Reserved, kept', false, 'ready', [], { phase: 'Reserved', deleteTasks: [], release: false, message: /slot 1 is kept/ }],
    ['its node not ready: Waiting, even with its task', false, 'notReady', [task('db-x')], { phase: 'Waiting', deleteTasks: [], release: false, message: /node n1 is not ready: slot 1 waits for it; `capstan delete volume db-data-1` frees the slot/ }],
    ['its node gone: Waiting, and says how to free the slot', false, 'gone', [], { phase: 'Waiting', deleteTasks: [], release: false, message: /node n1 is gone.*capstan delete volume db-data-1/ }],
    ['wiped while its task runs: the task is deleted first', true, 'ready', [task('db-x')], { phase: 'Deleting', deleteTasks: ['db-x'], release: false, message: /waiting for task db-x to stop/ }],
    ['wiped while its task is already stopping: nothing more to delete', true, 'ready', [task('db-x', true)], { phase: 'Deleting', deleteTasks: [], release: false, message: /waiting for task db-x to stop/ }],
    ['wiped with no task: the agent removes the directory', true, 'ready', [], { phase: 'Deleting', deleteTasks: [], release: false, message: /agent of node n1 removes the directory/ }],
    ['wiped while its node is not ready: released now, the agent removes the directory if the node comes back', true, 'notReady', [], { phase: 'Deleting', deleteTasks: [], release: true, message: /node n1 is not ready.*released without it.*if the node comes back/ }],
    ['wiped while its node is not ready, its task there: the task is deleted, not waited for', true, 'notReady', [task('db-x')], { phase: 'Deleting', deleteTasks: ['db-x'], release: true, message: /released without it/ }],
    ['wiped with its node gone: released, nothing can remove it', true, 'gone', [], { phase: 'Deleting', deleteTasks: [], release: true, message: /node n1 is gone, so nothing can remove the directory/ }],
    ['wiped with its node gone and a task left: the task goes too', true, 'gone', [task('db-x')], { phase: 'Deleting', deleteTasks: ['db-x'], release: true, message: /released/ }],
  ])('%s', (_name, deleting, node, tasks, expected) => {
    const plan = planVolume({ volume: volume(deleting), node, tasks });
    expect(plan.phase).toBe(expected.phase);
    expect(plan.task).toBe(expected.task);
    expect(plan.deleteTasks).toEqual(expected.deleteTasks);
    expect(Boolean(plan.release)).toBe(expected.release);
    expect(plan.message).toMatch(expected.message);
  });
});
