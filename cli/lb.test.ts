import { describe, expect, it } from 'vitest';
import { CliError } from './errors.ts';
import { LB_DEFAULTS, parseLbFlags } from './lb.ts';

describe('capstan lb: time flags take durations, like every --timeout', () => {
  it.each([
    ['a bare number is seconds', '45', 45],
    ['seconds', '90s', 90],
    ['minutes', '2m', 120],
    ['milliseconds round up to a whole second, never to 0', '1500ms', 2],
  ])('%s (%s)', (_name, value, seconds) => {
    expect(parseLbFlags({ drainTimeout: value, hardStopAfter: value })).toMatchObject({ drainTimeoutSeconds: seconds, hardStopAfterSeconds: seconds });
  });

  it('defaults to the documented seconds', () => {
    expect(parseLbFlags({})).toMatchObject({ drainTimeoutSeconds: LB_DEFAULTS.drainTimeoutSeconds, hardStopAfterSeconds: LB_DEFAULTS.hardStopAfterSeconds });
  });

  it('anything else is a usage error naming the flag', () => {
    expect(() => parseLbFlags({ drainTimeout: 'soon' })).toThrow(CliError);
    expect(() => parseLbFlags({ drainTimeout: 'soon' })).toThrow('--drain-timeout: expected a duration such as 90s, 5m or 1h (a bare number is seconds), found "soon"');
  });
});
