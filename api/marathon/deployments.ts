// Marathon deployments, read from the Apps' rollouts. Capstan keeps no deployment objects: an App
// whose rollout has not completed (status.rollout, written by controllers/rollout) is a deployment in
// progress, and one that has completed is none. Its id is deploymentIdOf(uid, generation): the
// id the API returned when it wrote that generation (Marathon-Deployment-Id), so a client can follow
// its deployment by the id it was given.
//
// A group change writes several Apps at once and Marathon answers with one deployment for all of
// them: the group route stamps each App it wrote with DEPLOYMENT_ANNOTATION (`<id>@<generation>`),
// and deploymentsOf joins the Apps carrying the same id into one deployment listing every affected
// App. The stamp counts only while the App is still at the generation it names: a later change of
// the App (a scale, a PUT) is a deployment of its own.
import type { AppStatus, RolloutStatus } from '../kinds/app.ts';
import { RESTARTED_AT_ANNOTATION } from '../kinds/wellknown.ts';
import type { AnyObject, DeepReadonly } from '../object.ts';
import { versionOf } from './app.ts';
import { deploymentIdOf } from './deployment-id.ts';
import { marathonIdOf } from './ids.ts';
import { isMarathonPod } from './pod.ts';

/** On Apps written by one group change: `<deployment id>@<generation written>`. */
export const DEPLOYMENT_ANNOTATION = 'marathon.capstan.io/deployment';

/** Marathon's deployment actions Capstan's rollouts map to. */
export type DeploymentAction = 'StartApplication' | 'ScaleApplication' | 'RestartApplication' | 'StopApplication';

// A type, not an interface, so it reads as the Record<string, unknown> of a JSON body.
export type MarathonDeployment = {
  id: string;
  version: string;
  affectedApps: string[];
  affectedPods: string[];
  steps: { actions: { action: DeploymentAction; app?: string; pod?: string }[] }[];
  currentActions: { action: DeploymentAction; app?: string; pod?: string; readinessCheckResults: unknown[] }[];
  currentStep: number;
  totalSteps: number;
};

type App = DeepReadonly<AnyObject>;

/**
 * The deployment id of the App's latest change: a group change's while its stamp is current, else
 * the App's own. A deletion's is generation 0's, which no spec ever has (what DELETE answered).
 */
export function deploymentIdOfApp(app: App): string {
  if (app.metadata.deletionTimestamp) return deploymentIdOf(app.metadata.uid ?? '', 0);
  const generation = app.metadata.generation ?? 0;
  const stamp = parseDeploymentStamp(app.metadata.annotations?.[DEPLOYMENT_ANNOTATION]);
  if (stamp && stamp.generation === generation) return stamp.id;
  return deploymentIdOf(app.metadata.uid ?? '', generation, app.metadata.annotations?.[RESTARTED_AT_ANNOTATION]);
}

export function deploymentStamp(id: string, generation: number): string {
  return `${id}@${generation}`;
}

export function parseDeploymentStamp(value: string | undefined): { id: string; generation: number } | undefined {
  const match = value === undefined ? null : /^(.+)@(\d+)$/.exec(value);
  return match ? { id: match[1]!, generation: Number(match[2]) } : undefined;
}

/** The Marathon deployment in progress for an App, or undefined when its rollout is complete. */
export function deploymentOf(app: App): MarathonDeployment | undefined {
  const action = actionOf(app);
  if (!action) return undefined;
  const id = marathonIdOf(app as AnyObject);
  const pod = isMarathonPod(app);
  const target = pod ? { pod: id } : { app: id };
  return {
    id: deploymentIdOfApp(app),
    // The version the deployment moves to: the app's, as GET /v2/apps shows it.
    version: versionOf(app),
    affectedApps: pod ? [] : [id],
    affectedPods: pod ? [id] : [],
    steps: [{ actions: [{ action, ...target }] }],
    currentActions: [{ action, ...target, readinessCheckResults: [] }],
    currentStep: 1,
    totalSteps: 1,
  };
}

/**
 * Every deployment in progress among `apps`: one per App, except that Apps of one group change are
 * one deployment, its steps ordered by their dependencies (an App starts after those it depends on).
 */
export function deploymentsOf(apps: readonly App[]): MarathonDeployment[] {
  const byId = new Map<string, { app: App; deployment: MarathonDeployment }[]>();
  for (const app of apps) {
    const deployment = deploymentOf(app);
    if (!deployment) continue;
    byId.set(deployment.id, [...(byId.get(deployment.id) ?? []), { app, deployment }]);
  }
  return [...byId.values()].map(joinDeployments);
}

function joinDeployments(parts: readonly { app: App; deployment: MarathonDeployment }[]): MarathonDeployment {
  if (parts.length === 1) return parts[0]!.deployment;
  const steps = stepsInDependencyOrder(parts.map((p) => ({ app: p.app, actions: p.deployment.steps[0]!.actions })));
  // The current step: the first with an App not waiting for its dependencies.
  const moving = parts.filter((p) => (p.app.status as DeepReadonly<AppStatus> | undefined)?.rollout?.phase !== 'Waiting');
  const movingIds = new Set(moving.flatMap((p) => [...p.deployment.affectedApps, ...p.deployment.affectedPods]));
  const currentStep = steps.findIndex((step) => step.actions.some((action) => movingIds.has(action.app ?? action.pod ?? '')));
  return {
    id: parts[0]!.deployment.id,
    version: parts.map((p) => p.deployment.version).sort()[0]!,
    affectedApps: parts.flatMap((p) => p.deployment.affectedApps).sort(),
    affectedPods: parts.flatMap((p) => p.deployment.affectedPods).sort(),
    steps,
    currentActions: moving.flatMap((p) => p.deployment.currentActions),
    currentStep: currentStep + 1 || 1,
    totalSteps: steps.length,
  };
}

/**
 * The Apps' actions as Marathon's deployment steps: an App's actions one step after those of the
 * Apps it depends on (among these), so a step holds the Apps that may move together. Only the Apps
 * given count: a dependency already deployed is no step.
 */
export function stepsInDependencyOrder(entries: readonly { app: App; actions: MarathonDeployment['steps'][number]['actions'] }[]): MarathonDeployment['steps'] {
  const levels = dependencyLevels(entries.map((e) => e.app));
  const steps: MarathonDeployment['steps'] = [];
  entries.forEach((entry, index) => {
    const level = levels[index]!;
    while (steps.length <= level) steps.push({ actions: [] });
    steps[level]!.actions.push(...entry.actions);
  });
  return steps;
}

/** Per App, how many of the other Apps it (transitively) waits for: 0 for those depending on none of them. */
function dependencyLevels(apps: readonly App[]): number[] {
  const keyOf = (app: App) => `${app.metadata.namespace ?? 'default'}/${app.metadata.name}`;
  const index = new Map(apps.map((app, i) => [keyOf(app), i]));
  const dependenciesOf = (app: App): number[] =>
    ((app.spec as { dependencies?: readonly string[] } | undefined)?.dependencies ?? [])
      .map((dep) => index.get(dep.includes('/') ? dep : `${app.metadata.namespace ?? 'default'}/${dep}`))
      .filter((i): i is number => i !== undefined);
  const levels: (number | undefined)[] = apps.map(() => undefined);
  const levelOf = (i: number, seen: Set<number>): number => {
    if (levels[i] !== undefined) return levels[i]!;
    // A cycle is refused at apply (app-checks.ts); should one slip through, its Apps share a level.
    if (seen.has(i)) return 0;
    seen.add(i);
    const level = Math.max(-1, ...dependenciesOf(apps[i]!).map((d) => levelOf(d, seen))) + 1;
    levels[i] = level;
    return level;
  };
  return apps.map((_, i) => levelOf(i, new Set()));
}

/**
 * What the App's rollout is doing, in Marathon's words, or undefined when it is done. Stopping: the
 * App is being deleted. Starting: it never completed a rollout (no stable revision). Restarting:
 * tasks of another revision are still to be replaced. Scaling: otherwise (the instance count moves).
 */
function actionOf(app: App): DeploymentAction | undefined {
  if (app.metadata.deletionTimestamp) return 'StopApplication';
  const status = app.status as DeepReadonly<AppStatus> | undefined;
  const generation = app.metadata.generation ?? 0;
  const observed = status !== undefined && (status.observedGeneration ?? 0) >= generation;
  if (observed && isDone(status.rollout)) return undefined;
  if (status?.stableRevision === undefined) return 'StartApplication';
  if (!observed) return (app.spec as { instances?: number }).instances !== status.instances ? 'ScaleApplication' : 'RestartApplication';
  const others = (status.revisions ?? []).filter((r) => r.revision !== status.currentRevision && (r.instances > 0 || r.running > 0));
  return others.length > 0 ? 'RestartApplication' : 'ScaleApplication';
}

/** Complete, or rolled back and settled: Marathon's deployment is over. Paused, waiting and failed rollouts still hold theirs. */
function isDone(rollout: DeepReadonly<RolloutStatus> | undefined): boolean {
  if (!rollout) return false;
  return rollout.phase === 'Complete' || (rollout.phase === 'RolledBack' && rollout.completedAt !== undefined);
}
