// Runs the ScheduledScale controller against a Capstan cluster:
//   node --import tsx examples/scheduled-scale/main.ts --etcd http://127.0.0.1:2379
// Options are parsed once, here, and passed down; nothing else reads argv or the environment.
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { z } from 'zod';
import { connectEtcd, ensureReachable } from '../../api/etcd.ts';
import { builtinRegistry } from '../../api/kinds/builtin.ts';
import { Store } from '../../api/store.ts';
import { installSignalHandlers, Manager } from '../../controllers/manager.ts';
import { serveMetrics } from '../../controllers/metrics.ts';
import { scheduledScaleController } from './controller.ts';
import { scheduledScaleKind } from './kind.ts';

const { values } = parseArgs({
  options: {
    etcd: { type: 'string' },
    'lease-ttl': { type: 'string', default: '10' },
    'no-leader-election': { type: 'boolean', default: false },
    'metrics-port': { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
  },
});
const config = z
  .object({
    etcd: z.string().min(1),
    leaseTtlSeconds: z.coerce.number().int().min(1),
    leaderElection: z.boolean(),
    metricsPort: z.coerce.number().int().min(0).max(65535).optional(),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']),
  })
  .parse({
    etcd: values.etcd ?? process.env.CAPSTAN_ETCD ?? 'http://127.0.0.1:2379',
    leaseTtlSeconds: values['lease-ttl'],
    leaderElection: !values['no-leader-election'],
    metricsPort: values['metrics-port'],
    logLevel: values['log-level'],
  });

const log = pino({ level: config.logLevel });
const client = connectEtcd({ endpoints: config.etcd });
await ensureReachable(client, config.etcd);
const store = new Store(client, builtinRegistry().register(scheduledScaleKind));
const manager = new Manager({
  store,
  controllers: [scheduledScaleController()],
  leaderElection: config.leaderElection,
  leaseTtlSeconds: config.leaseTtlSeconds,
  logger: log,
});
await manager.start();
const metrics = config.metricsPort === undefined ? undefined : await serveMetrics({ registry: manager.metrics.registry, port: config.metricsPort });
installSignalHandlers(
  {
    async stop() {
      await manager.stop();
      await metrics?.close();
      client.close();
    },
  },
  { log },
);
log.info({ etcd: config.etcd, metrics: metrics?.url }, 'scheduled-scale controller running; Ctrl-C to stop');
