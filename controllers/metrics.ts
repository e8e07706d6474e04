// The controllers' metrics are the shared module's (api/metrics.ts): every component's families
// and its /metrics endpoint live there. Re-exported here for the controller runtime and the SDK.
export { ControllerMetrics, serveMetrics, type MetricsServer } from '../api/metrics.ts';
