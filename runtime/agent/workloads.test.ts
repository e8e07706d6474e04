import { describe, expect, it } from 'vitest';
import type { ContainerState, RunningTask } from '../driver.ts';
import { Workloads } from './workloads.ts';

const T0 = '2025-01-01T00:00:00.000Z';
const running = (uid: string, ...names: string[]): RunningTask => ({
  taskUid: uid,
  taskName: 'web-1',
  namespace: 'shop',
  app: 'web',
  containers: names.map((name): ContainerState => ({ name, state: 'running', pid: 1, startedAt: T0 })),
});
const exit = (uid: string, container: string) => ({
  taskUid: uid,
  container,
  exitCode: 1,
  signal: null,
  outcome: 'failed' as const,
  reason: 'exited with code 1',
  finishedAt: T0,
});
const shape = (workloads: Workloads, uid: string) =>
  workloads.get(uid)?.parts.map((p) => `${p.driver}:${p.running.containers.map((c) => `${c.name}=${c.state}`).join(',')}`);

describe('Workloads of a pod mixing runtimes', () => {
  it('keeps one part per driver under one uid', () => {
    const workloads = new Workloads();
    workloads.set({ driver: 'docker', running: running('u1', 'web') });
    workloads.set({ driver: 'process', running: running('u1', 'fetch') });
    expect(shape(workloads, 'u1')).toEqual(['docker:web=running', 'process:fetch=running']);
  });

  it('a driver\'s list drops only that driver\'s part of a uid it no longer shows', () => {
    const workloads = new Workloads();
    workloads.set({ driver: 'docker', running: running('u1', 'web') });
    workloads.set({ driver: 'process', running: running('u1', 'fetch') });
    workloads.merge('process', [], workloads.mark());
    expect(shape(workloads, 'u1')).toEqual(['docker:web=running']);
    workloads.merge('docker', [], workloads.mark());
    expect(workloads.get('u1')).toBeUndefined();
  });

  it('a list adopts each driver\'s part (an agent restart)', () => {
    const workloads = new Workloads();
    workloads.merge('docker', [running('u1', 'web')], workloads.mark());
    workloads.merge('process', [running('u1', 'fetch')], workloads.mark());
    expect(shape(workloads, 'u1')).toEqual(['docker:web=running', 'process:fetch=running']);
  });

  it('an exit goes to the part holding its container, an early one waits for that part', () => {
    const workloads = new Workloads();
    workloads.recordExit(exit('u1', 'fetch'));
    workloads.set({ driver: 'docker', running: running('u1', 'web') });
    expect(shape(workloads, 'u1')).toEqual(['docker:web=running']);
    workloads.set({ driver: 'process', running: running('u1', 'fetch') });
    expect(shape(workloads, 'u1')).toEqual(['docker:web=running', 'process:fetch=exited']);
    workloads.recordExit(exit('u1', 'web'));
    expect(shape(workloads, 'u1')).toEqual(['docker:web=exited', 'process:fetch=exited']);
  });

  it('a stop marks every part stopped', () => {
    const workloads = new Workloads();
    workloads.set({ driver: 'docker', running: running('u1', 'web') });
    workloads.set({ driver: 'process', running: running('u1', 'fetch') });
    workloads.markStopped('u1');
    expect(shape(workloads, 'u1')).toEqual(['docker:web=exited', 'process:fetch=exited']);
  });
});
