import { describe, expect, it } from 'vitest';
import { ControllerMetrics } from '../../api/metrics.ts';
import { recordRollout, rolloutGauges } from './metrics.ts';

const app = (instances: number, currentRevision?: number) => ({
  apiVersion: 'capstan/v1',
  kind: 'App',
  metadata: { name: 'web', namespace: 'shop', uid: 'u1' },
  spec: { instances },
  status: currentRevision === undefined ? {} : { currentRevision },
});
const revision = (number: number, instances: number, status: { running?: number; healthy?: number; ready?: number } = {}) => ({
  apiVersion: 'capstan/v1',
  kind: 'Revision',
  metadata: { name: `web-${number}`, namespace: 'shop' },
  spec: { number, instances },
  status,
});
const side = (wanted: number, running: number, healthy: number, ready: number) => ({ wanted, running, healthy, ready });

describe('rolloutGauges', () => {
  it.each([
    ['no revision yet', app(3), [], { target: 3, new: side(0, 0, 0, 0), old: side(0, 0, 0, 0) }],
    ['settled on revision 1', app(3, 1), [revision(1, 3, { running: 3, healthy: 3, ready: 3 })], { target: 3, new: side(3, 3, 3, 3), old: side(0, 0, 0, 0) }],
    [
      'mid-rollout from 1 to 2',
      app(3, 2),
      [revision(1, 2, { running: 2, healthy: 2, ready: 2 }), revision(2, 2, { running: 2, healthy: 1, ready: 1 })],
      { target: 3, new: side(2, 2, 1, 1), old: side(2, 2, 2, 2) },
    ],
    [
      'two old revisions add up',
      app(4, 3),
      [revision(1, 1, { running: 1, healthy: 1 }), revision(2, 1, { running: 1 }), revision(3, 2, { running: 2, healthy: 2, ready: 2 })],
      { target: 4, new: side(2, 2, 2, 2), old: side(2, 2, 1, 0) },
    ],
  ])('%s', (_name, theApp, revisions, expected) => {
    expect(rolloutGauges(theApp as never, revisions as never)).toEqual(expected);
  });
});

describe('recordRollout', () => {
  it("sets an App's series, and removes every one of them once the App is gone", async () => {
    const metrics = new ControllerMetrics();
    recordRollout(metrics, 'shop/web', app(3, 1) as never, [revision(1, 3, { running: 3, healthy: 2, ready: 2 })] as never);
    const series = async () => (await metrics.rolloutInstances.get()).values;
    expect(await series()).toHaveLength(8);
    expect((await series()).find((v) => v.labels.revision === 'new' && v.labels.state === 'healthy')?.value).toBe(2);
    expect((await metrics.rolloutTarget.get()).values).toEqual([{ labels: { namespace: 'shop', app: 'web' }, value: 3 }]);
    recordRollout(metrics, 'shop/web', undefined, []);
    expect(await series()).toEqual([]);
    expect((await metrics.rolloutTarget.get()).values).toEqual([]);
  });
});
