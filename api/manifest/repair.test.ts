import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { overlaps, repairForChecks } from './repair.ts';
import { suggestion } from './zod-problems.ts';

describe('suggestion', () => {
  it.each([
    { written: 'comand', allowed: ['name', 'image', 'cmd', 'args'], suggested: 'cmd' },
    { written: 'command', allowed: ['name', 'image', 'cmd', 'args'], suggested: 'cmd' },
    { written: 'command', allowed: ['protocol', 'command'], suggested: undefined },
    { written: 'comand', allowed: ['protocol', 'command'], suggested: 'command' },
    { written: 'replicas', allowed: ['instances', 'containers'], suggested: 'instances' },
    { written: 'uniqe', allowed: ['UNIQUE', 'CLUSTER', 'GROUP_BY'], suggested: 'UNIQUE' },
    { written: 'group_by', allowed: ['UNIQUE', 'CLUSTER', 'GROUP_BY'], suggested: 'GROUP_BY' },
    { written: 'UNIQ', allowed: ['UNIQUE', 'CLUSTER'], suggested: 'UNIQUE' },
    { written: 'instanses', allowed: ['instances', 'containers'], suggested: 'instances' },
    { written: 'id', allowed: ['name', 'image', 'cmd', 'args'], suggested: undefined },
    { written: 'frobnicate', allowed: ['name', 'image', 'cmd', 'args'], suggested: undefined },
  ])('$written among $allowed → $suggested', ({ written, allowed, suggested }) => {
    expect(suggestion(written, allowed)).toBe(suggested);
  });
});

describe('repairForChecks', () => {
  const schema = z.strictObject({
    size: z.number().default(1),
    mode: z.enum(['FAST', 'SLOW']).default('FAST'),
    items: z.array(z.strictObject({ name: z.string(), cmd: z.string().optional() })).default([]),
    pair: z.tuple([z.string(), z.enum(['UP', 'DOWN'])]).optional(),
  });
  it.each([
    { name: 'a wrong value gives way to its default', value: { size: 'big' }, data: { size: 1 }, paths: [['size']] },
    { name: 'a misspelt enum value becomes the right spelling', value: { mode: 'slow' }, data: { mode: 'SLOW' }, paths: [['mode']] },
    { name: 'an enum value in a tuple too', value: { pair: ['a', 'up'] }, data: { pair: ['a', 'UP'] }, paths: [['pair', 1]] },
    { name: 'a near miss of a field is renamed', value: { items: [{ name: 'a', comand: 'x' }] }, data: { items: [{ name: 'a', cmd: 'x' }] }, paths: [['items', 0, 'comand']] },
    { name: 'an unknown field is dropped', value: { items: [{ name: 'a', colour: 'x' }] }, data: { items: [{ name: 'a' }] }, paths: [['items', 0, 'colour']] },
    { name: 'a wrong value of a renamed field then gives way', value: { sise: 'big' }, data: { size: 1 }, paths: [['sise'], ['size']] },
    { name: 'a list item missing a required field cannot be repaired', value: { items: [{ cmd: 'x' }] }, data: undefined, paths: undefined },
    { name: 'a value that is no object cannot be', value: 'text', data: undefined, paths: undefined },
  ])('$name', ({ value, data, paths }) => {
    const repaired = repairForChecks(schema, value);
    if (data === undefined) return expect(repaired).toBeUndefined();
    expect(repaired?.data).toMatchObject(data);
    expect(repaired?.paths).toEqual(paths);
  });

  it('leaves the value it was given as it was', () => {
    const value = { size: 'big', mode: 'slow' };
    repairForChecks(schema, value);
    expect(value).toEqual({ size: 'big', mode: 'slow' });
  });
});

describe('overlaps', () => {
  it.each([
    { a: ['spec', 'ports'], b: ['spec', 'ports', 0, 'name'], result: true },
    { a: ['spec', 'ports', 0], b: ['spec', 'ports'], result: true },
    { a: ['spec', 'ports'], b: ['spec', 'ports'], result: true },
    { a: ['spec', 'ports'], b: ['spec', 'portsx'], result: false },
    { a: ['spec', 'constraints', 0, 1], b: ['spec', 'constraints', 0, 2], result: false },
  ])('$a and $b → $result', ({ a, b, result }) => {
    expect(overlaps(a, b)).toBe(result);
  });
});
