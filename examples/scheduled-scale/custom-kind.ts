// The same kind as a CustomKind object, for tools that have no TypeScript: `capstan apply` learns
// ScheduledScale from it. Generated from the zod schema in kind.ts, so there is one source of truth:
//   node --import tsx examples/scheduled-scale/custom-kind.ts > scheduledscale-kind.yaml
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { z } from 'zod';
import { API_VERSION, type AnyObject } from '../../api/object.ts';
import { scheduledScaleKind, scheduledScaleSpecSchema } from './kind.ts';

export function scheduledScaleCustomKind(): AnyObject {
  const { $schema: _ignored, ...schema } = z.toJSONSchema(scheduledScaleSpecSchema, { io: 'input' }) as Record<string, unknown>;
  return {
    apiVersion: API_VERSION,
    kind: 'CustomKind',
    metadata: { name: scheduledScaleKind.plural },
    spec: {
      names: { kind: scheduledScaleKind.kind, plural: scheduledScaleKind.plural, singular: scheduledScaleKind.singular, shortNames: scheduledScaleKind.shortNames },
      scope: 'Namespaced',
      schema,
      columns: [
        { header: 'APP', jsonPath: '.spec.app' },
        { header: 'INSTANCES', jsonPath: '.status.instances' },
        { header: 'WINDOW', jsonPath: '.status.window' },
        { header: 'NEXT', jsonPath: '.status.nextChangeAt' },
      ],
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(stringify(scheduledScaleCustomKind()));
