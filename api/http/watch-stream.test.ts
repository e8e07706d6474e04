import { describe, expect, it } from 'vitest';
import type { InformerEventType } from '../informer.ts';
import type { AnyObject } from '../object.ts';
import { watchEventOf } from './watch-stream.ts';

const object = (tier: string): AnyObject => ({ apiVersion: 'capstan/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'shop', labels: { tier } }, spec: {} });
const front = (o: { metadata: { labels?: Readonly<Record<string, string>> } }) => o.metadata.labels?.['tier'] === 'front';

describe('what a watcher selecting tier=front sees of a change', () => {
  it.each<[InformerEventType, string | undefined, string, string | undefined]>([
    ['added', undefined, 'front', 'ADDED'],
    ['added', undefined, 'back', undefined],
    ['modified', 'front', 'front', 'MODIFIED'],
    ['modified', 'back', 'back', undefined],
    ['modified', 'back', 'front', 'ADDED'],
    ['modified', 'front', 'back', 'DELETED'],
    ['deleted', 'front', 'front', 'DELETED'],
    ['deleted', 'back', 'back', undefined],
  ])('%s from %s to %s → %s', (type, before, after, expected) => {
    const event = { type, object: object(after), ...(before ? { old: object(before) } : {}) };
    expect(watchEventOf(event, front)).toBe(expected);
  });
});
