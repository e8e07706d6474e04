import { describe, expect, it } from 'vitest';
import { formatAttributes, formatValue } from './format.ts';

describe('Mesos value formatting', () => {
  it.each([
    // scalars: DecimalFormat "0.###", HALF_EVEN on the double's exact value
    ['1', '1'],
    ['1.0', '1'],
    ['007', '7'],
    ['2.5', '2.5'],
    ['1.0001', '1'],
    ['1.0005', '1'], // stored just below 1.0005
    ['1.00051', '1.001'],
    ['1.001', '1.001'],
    ['0.0005', '0.001'], // stored just above 0.0005
    ['0.0625', '0.062'], // an exact tie: to the even digit
    ['0.1875', '0.188'],
    ['1.9999', '2'],
    ['12345678901234567890', '12345678901234567168'],
    // ranges: sorted by begin, spaces dropped
    ['[6-7]', '[6-7]'],
    ['[5-7,1-2]', '[1-2,5-7]'],
    ['[ 6 - 7 ]', '[6-7]'],
    // sets: items sorted
    ['{1,0}', '{0,1}'],
    ['{b, a}', '{a,b}'],
    // text: as written
    ['rack-1', 'rack-1'],
    ['Rack', 'Rack'],
    ['1e3', '1e3'],
    ['-1', '-1'],
    ['1.', '1.'],
    ['[a-b]', '[a-b]'],
  ])('%s reads %s', (written, formatted) => {
    expect(formatValue(written)).toBe(formatted);
  });

  it('formats every attribute but hostname, which is a name', () => {
    expect(formatAttributes({ hostname: '10.0', rack: '10.0', gpu: '{1,0}' })).toEqual({ hostname: '10.0', rack: '10', gpu: '{0,1}' });
  });
});
