// Probe results as a counter (capstan_probe_results_total, api/metrics.ts): each planned probe's run
// wrapped to count its verdict by protocol, check (health, readiness) and result (ok, failed). The
// health controller counts its HTTP, HTTPS and TCP probes, the agent its COMMAND checks. A probe
// stopped before it concluded has no verdict and is not counted.
import type { ProbeResults } from '../../api/metrics.ts';
import type { PlannedProbe, TaskProbes } from './loops.ts';
import type { ProbedTask } from './task-probes.ts';

export function countedProbes(plan: TaskProbes, task: ProbedTask, results: ProbeResults): TaskProbes {
  const { healthChecks, readinessChecks } = task.spec.template;
  const counted = (probe: PlannedProbe): PlannedProbe => {
    const check = probe.kind === 'health' ? healthChecks[probe.index] : readinessChecks[probe.index];
    const labels = { protocol: check?.protocol ?? 'unknown', check: probe.kind };
    return {
      ...probe,
      run: async (signal) => {
        const verdict = await probe.run(signal);
        if (verdict) results.inc({ ...labels, result: verdict.ok ? 'ok' : 'failed' });
        return verdict;
      },
    };
  };
  return { ...plan, probes: plan.probes.map(counted) };
}
