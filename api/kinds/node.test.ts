import { describe, expect, it } from 'vitest';
import { nodeFieldValue, nodeKind, nodeSpecSchema, type ConstraintFields } from './node.ts';

const inEu1a: ConstraintFields = { name: 'n1', attributes: { hostname: 'n1.example.com', rack: 'r1' }, faultDomain: { region: 'eu', zone: 'eu-1a' } };
const noDomain: ConstraintFields = { name: 'n2', attributes: { rack: 'r2' } };

describe('nodeFieldValue: what a constraint field reads on a node', () => {
  it.each<[string, ConstraintFields, string, string | undefined]>([
    ['hostname is the hostname attribute', inEu1a, 'hostname', 'n1.example.com'],
    ['@hostname is the same', inEu1a, '@hostname', 'n1.example.com'],
    ['hostname defaults to the node name', noDomain, 'hostname', 'n2'],
    ['@hostname defaults to the node name too', noDomain, '@hostname', 'n2'],
    ['@region is the fault domain region', inEu1a, '@region', 'eu'],
    ['@zone is the fault domain zone', inEu1a, '@zone', 'eu-1a'],
    ['a node without a fault domain lacks @region', noDomain, '@region', undefined],
    ['a node without a fault domain lacks @zone', noDomain, '@zone', undefined],
    ['any other field is an attribute', inEu1a, 'rack', 'r1'],
    ['an attribute the node lacks', inEu1a, 'gpu', undefined],
    ['"zone" without @ is an attribute, not the fault domain', inEu1a, 'zone', undefined],
    ['"region" without @ likewise', inEu1a, 'region', undefined],
  ])('%s', (_name, node, field, expected) => {
    expect(nodeFieldValue(node, field)).toBe(expected);
  });
});

describe('the Node spec: fault domain', () => {
  const spec = { address: '127.0.0.1', capacity: { cpus: 1, mem: 512 } };
  it.each<[string, unknown, boolean]>([
    ['region and zone', { region: 'eu', zone: 'eu-1a' }, true],
    ['none at all', undefined, true],
    ['a zone without a region (a zone lies within a region, as in Mesos)', { zone: 'eu-1a' }, false],
    ['a region without a zone', { region: 'eu' }, false],
    ['an empty zone', { region: 'eu', zone: '' }, false],
    ['an unknown field', { region: 'eu', zone: 'eu-1a', rack: 'r1' }, false],
  ])('%s', (_name, faultDomain, valid) => {
    expect(nodeSpecSchema.safeParse({ ...spec, ...(faultDomain === undefined ? {} : { faultDomain }) }).success).toBe(valid);
  });

  it('get nodes -o wide shows REGION and ZONE, empty for a node without a fault domain', () => {
    const columns = nodeKind.columns!.filter((c) => c.header === 'REGION' || c.header === 'ZONE');
    expect(columns.every((c) => c.wide)).toBe(true);
    const node = (faultDomain?: object) => ({ apiVersion: 'capstan/v1', kind: 'Node', metadata: { name: 'n1' }, spec: { ...spec, attributes: {}, ...(faultDomain ? { faultDomain } : {}) } });
    expect(columns.map((c) => c.value(node({ region: 'eu', zone: 'eu-1a' })))).toEqual(['eu', 'eu-1a']);
    expect(columns.map((c) => c.value(node()))).toEqual(['', '']);
  });
});
