// Marathon's system routes: /ping, /v2/info, /v2/leader. What Marathon reports about Mesos and
// ZooKeeper has no counterpart here; /v2/info fills what Capstan can say truthfully and leaves the
// rest out (api/http/README.md).
import packageJson from '../../package.json' with { type: 'json' };
import type { ApiContext, RouteModule } from './context.ts';

export const say = {
  noAbdication:
    'capstan api holds no leadership: every API server reads and writes the same etcd, and the controllers elect their leader among themselves; nothing changed',
} as const;

/** What /v2/info says about this server beyond its context. */
export interface ServerFacts {
  /** `capstan-<etcd cluster id>`: the same for every API server of one cluster, as Marathon's framework id is. */
  frameworkId: string;
  /** Where the state lives, shown as Marathon shows its Mesos master. */
  etcd?: string;
}

export function systemRoutes(facts: ServerFacts): RouteModule {
  return (server, ctx) => {
    server.get('/ping', async (_request, reply) => reply.type('text/plain; charset=utf-8').send('pong'));
    server.get('/v2/info', async () => infoOf(ctx, facts));
    server.get('/v2/leader', async () => ({ leader: hostPortOf(ctx) }));
    // Marathon abdicates and another instance is elected. An API server here is no leader, so there
    // is nothing to give up: 200, so a script that rotates Marathon leaders carries on, with a
    // message saying nothing changed.
    server.delete('/v2/leader', async () => ({ message: say.noAbdication }));
  };
}

/**
 * Marathon's /v2/info. Every key is one Marathon has (thefactory's client builds its objects from
 * them and refuses others); zookeeper_config is empty, there being no ZooKeeper, and
 * event_subscriber null: events are served as SSE on /v2/events, with no HTTP callbacks.
 */
function infoOf(ctx: ApiContext, facts: ServerFacts): Record<string, unknown> {
  const url = new URL(ctx.url);
  return {
    name: 'capstan',
    version: packageJson.version,
    elected: true,
    leader: hostPortOf(ctx),
    frameworkId: facts.frameworkId,
    marathon_config: {
      ...(facts.etcd ? { master: facts.etcd } : {}),
      framework_name: 'capstan',
      hostname: url.hostname,
      // The controllers are leader-elected (DESIGN.md "Leadership"); any number of API servers may run.
      ha: true,
      checkpoint: true,
      features: [],
    },
    http_config: { http_port: Number(url.port) },
    zookeeper_config: {},
    event_subscriber: null,
  };
}

function hostPortOf(ctx: ApiContext): string {
  return new URL(ctx.url).host;
}
