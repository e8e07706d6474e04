import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { kindFromCustomKind } from '../../api/kinds/custom.ts';
import { scheduledScaleCustomKind } from './custom-kind.ts';
import { scheduledScaleKind } from './kind.ts';

const manifest = parse(readFileSync(new URL('./web-business-hours.yaml', import.meta.url), 'utf8')) as { spec: Record<string, unknown> };

describe('the ScheduledScale kind, in TypeScript and as a CustomKind', () => {
  const custom = kindFromCustomKind(scheduledScaleCustomKind());

  it.each([
    { scenario: 'the example manifest', spec: manifest.spec, valid: true },
    { scenario: 'a time of day that is not HH:MM', spec: { ...manifest.spec, windows: [{ from: '8am', to: '18:00', instances: 1 }] }, valid: false },
    { scenario: 'no windows', spec: { ...manifest.spec, windows: [] }, valid: false },
    { scenario: 'an unknown field', spec: { ...manifest.spec, replicas: 3 }, valid: false },
    { scenario: 'negative instances', spec: { ...manifest.spec, otherwise: -1 }, valid: false },
  ])('both agree on $scenario (valid: $valid)', ({ spec, valid }) => {
    expect(scheduledScaleKind.spec.safeParse(spec).success).toBe(valid);
    expect(custom.spec.safeParse(spec).success).toBe(valid);
  });
});
