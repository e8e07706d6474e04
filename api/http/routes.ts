// Every route module of the HTTP API, in the order the server registers them.
import type { RouteModule } from './context.ts';
import { metricsRoutes } from './metrics.ts';
import { nativeRoutes } from './native.ts';
import { appsRoutes } from './v2/apps.ts';
import { deploymentsRoutes } from './v2/deployments.ts';
import { eventsRoutes } from './v2/events.ts';
import { groupsRoutes } from './v2/groups.ts';
import { podsRoutes } from './v2/pods.ts';
import { dashboardRoutes } from './ui.ts';

export const routeModules: readonly RouteModule[] = [metricsRoutes, nativeRoutes, appsRoutes, deploymentsRoutes, groupsRoutes, podsRoutes, eventsRoutes, dashboardRoutes];
