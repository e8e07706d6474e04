import { describe, expect, it } from 'vitest';
import { hostPortOf } from './target.ts';

const template = { ports: [{ name: 'http' }, { name: 'admin' }, {}] } as never;

describe('hostPortOf', () => {
  it.each<[string, { portIndex?: number; portName?: string }, number[], unknown]>([
    ['portIndex picks the host port at that index', { portIndex: 1 }, [31000, 31001, 31002], { port: 31001 }],
    ['portName picks the named port', { portName: 'admin' }, [31000, 31001, 31002], { port: 31001 }],
    ['neither: the first port', {}, [31000, 31001, 31002], { port: 31000 }],
    ['an unknown name says which names exist', { portName: 'web' }, [31000], { problem: 'no port named "web" (the template\'s ports: http, admin)' }],
    ['an index past the bound ports', { portIndex: 3 }, [31000], { problem: 'portIndex 3 has no host port (the task has 1)' }],
  ])('%s', (_name, check, hostPorts, expected) => {
    expect(hostPortOf(check, template, hostPorts)).toEqual(expected);
  });
});
