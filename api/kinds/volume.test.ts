import { describe, expect, it } from 'vitest';
import { checkDnsLabel, DNS_LABEL_MAX } from '../object.ts';
import type { AnyObject } from '../object.ts';
import { builtinRegistry } from './builtin.ts';
import { volumeKind, volumeObjectName, volumeSpecSchema } from './volume.ts';

const long = (letter: string, length: number) => letter.repeat(length);

describe('Volume names', () => {
  it.each([
    ['a short pair', 'db', 'data', 0, 'db-data-0'],
    ['a later slot', 'db', 'data', 12, 'db-data-12'],
    ['exactly 63 characters', long('a', 30), long('b', 30), 0, `${long('a', 30)}-${long('b', 30)}-0`],
  ])('%s is kept whole', (_, app, volume, slot, expected) => {
    expect(volumeObjectName(app, volume, slot)).toBe(expected);
  });

  it.each([
    ['64 characters', long('a', 31), long('b', 30), 0],
    ['two labels of 63', long('a', 63), long('b', 63), 7],
    ['a cut landing on "-"', long('a', 50), `x-${long('b', 60)}`, 3],
    ['a slot of many digits', long('a', 63), 'data', 123456],
  ])('%s is cut to a DNS label with a hash, the slot last', (_, app, volume, slot) => {
    const name = volumeObjectName(app, volume, slot);
    expect(name.length).toBeLessThanOrEqual(DNS_LABEL_MAX);
    expect(checkDnsLabel(name)).toBeNull();
    expect(name).toMatch(new RegExp(`-[0-9a-f]{8}-${slot}$`));
    expect(name.startsWith(app.slice(0, 20))).toBe(true);
    expect(volumeObjectName(app, volume, slot)).toBe(name);
  });

  it('gives pairs that cut alike different names', () => {
    const app = long('a', 60);
    expect(volumeObjectName(app, 'data-one', 0)).not.toBe(volumeObjectName(app, 'data-two', 0));
    expect(volumeObjectName(app, 'data', 0)).not.toBe(volumeObjectName(app, 'data', 1));
  });
});

const volume = (spec: object, status?: object, name = 'db-data-0'): AnyObject => ({
  apiVersion: 'capstan/v1',
  kind: 'Volume',
  metadata: { name, namespace: 'shop' },
  spec: volumeSpecSchema.parse(spec),
  ...(status ? { status } : {}),
});
const spec = { app: 'db', volume: 'data', slot: 0, size: 512, nodeName: 'n1' };

describe('the Volume kind', () => {
  it('is a built-in kind, found by its plural, singular and short name', () => {
    const registry = builtinRegistry();
    for (const alias of ['Volume', 'volumes', 'volume', 'vol']) expect(registry.get(alias)).toBe(volumeKind);
    expect(volumeKind.namespaced).toBe(true);
  });

  it.each([
    ['a negative slot', { ...spec, slot: -1 }, ['slot'], 'too_small'],
    ['a size of 0 MiB', { ...spec, size: 0 }, ['size'], 'too_small'],
    ['no node', { app: 'db', volume: 'data', slot: 0, size: 1 }, ['nodeName'], 'invalid_type'],
    ['an unknown field', { ...spec, hostPath: '/x' }, [], 'unrecognized_keys'],
  ])('refuses %s', (_, given, path, code) => {
    const result = volumeSpecSchema.safeParse(given);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => [i.path, i.code])).toContainEqual([path, code]);
  });

  it.each([
    ['its own name', 'db-data-0', []],
    ['another slot’s name', 'db-data-1', [{ path: ['metadata', 'name'], expected: 'the name volumeObjectName gives its app, volume and slot ("db-data-0")', found: '"db-data-1"' }]],
  ])('checks that an object carries %s', (_, name, expected) => {
    expect(volumeKind.check!(volume(spec, undefined, name))).toEqual(expected);
  });

  it.each([
    ['before the controllers wrote status', undefined, { APP: 'db', SLOT: '0', NODE: 'n1', SIZE: '512Mi', PHASE: 'Pending', USED: '-', MESSAGE: '' }],
    ['bound, with its use measured', { phase: 'Bound', task: 'db-1-x', usedMiB: 12.4 }, { APP: 'db', SLOT: '0', NODE: 'n1', SIZE: '512Mi', PHASE: 'Bound', USED: '12Mi', MESSAGE: '' }],
    ['waiting for its node', { phase: 'Waiting', message: 'node n1 is unreachable' }, { PHASE: 'Waiting', MESSAGE: 'node n1 is unreachable' }],
  ])('shows its columns %s', (_, status, expected) => {
    const row = Object.fromEntries(volumeKind.columns!.map((c) => [c.header, c.value(volume(spec, status))]));
    expect(row).toMatchObject(expected);
    expect(volumeKind.columns!.filter((c) => !c.wide).map((c) => c.header)).toEqual(['APP', 'SLOT', 'NODE', 'SIZE', 'PHASE', 'USED']);
  });
});
