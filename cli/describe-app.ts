// `capstan describe app`: the App's state in Marathon's words, read from its status: the phase and
// why, instances running and healthy, the launch delay after failures and when it ends, and the last
// task failure with the last lines of its output; its containers (each one's runtime, command,
// resources and mounts) and its volumes (for a resident App, each slot's Volume: node, size, phase,
// use). Pure, from the objects.
import { containerRuntime, isResident, type AppSpec, type AppStatus, type Resources, type TaskFailure, type Volume as AppVolume, type VolumeMount } from '../api/kinds/app.ts';
import { mebibytes, type VolumeSpec, type VolumeStatus } from '../api/kinds/volume.ts';
import type { AnyObject } from '../api/object.ts';
import type { DescribeSection } from './describe.ts';
import { formatAge, formatTable, indent } from './io.ts';

export const say = {
  noStatus: '<no status yet: is `capstan controllers` running?>',
  phase: (phase: string, reason: string | undefined) => (reason ? `${phase} (${reason})` : phase),
  instances: (running: number, healthy: number, instances: number) => `${running} of ${instances} running, ${healthy} healthy`,
  delay: (seconds: number, failures: number) => `${seconds} s after ${failures} failure(s) in a row`,
  until: (until: string, left: number) => (left > 0 ? `${until} (in ${Math.ceil(left / 1000)} s)` : `${until} (over)`),
  task: (failure: TaskFailure) => `${failure.task}, revision ${failure.revision}${failure.node ? `, node ${failure.node}` : ''}`,
  ended: (failure: TaskFailure, ago: string) =>
    `${failure.phase}${failure.exitCode !== undefined ? `, exit code ${failure.exitCode}` : ''}${failure.signal ? `, signal ${failure.signal}` : ''} at ${failure.timestamp} (${ago} ago)`,
  output: (lines: number) => `Output (last ${lines} line${lines === 1 ? '' : 's'}):`,
  noOutput: 'Output:   <none>',
  imageDefault: "<the image's own>",
  none: '<none>',
  resources: (r: Partial<Resources>) => `cpus ${r.cpus ?? 0}, mem ${mebibytes(r.mem)}, disk ${mebibytes(r.disk)}${r.gpus ? `, gpus ${r.gpus}` : ''}`,
  mount: (mount: VolumeMount) => `${mount.name} → ${mount.mountPath}${mount.readOnly ? ' (ro)' : ''}`,
  ephemeral: 'ephemeral: a directory per instance, shared by the containers that mount it, removed with the instance',
  hostPath: (path: string) => `hostPath: ${path} on the node`,
  persistent: (size: number) => `persistent: ${mebibytes(size)} per instance slot, on the slot's node, kept across restarts, upgrades and scale-down`,
  noVolumes: '<none yet: each slot gets its volumes at its first placement>',
} as const;

export function appStateSection(app: AnyObject, now = Date.now()): DescribeSection {
  const status = app.status as Partial<AppStatus> | undefined;
  if (!status?.phase) return { title: 'State', body: `  ${say.noStatus}` };
  const instances = (app.spec as Partial<AppSpec>).instances ?? 0;
  const lines: string[] = [];
  const field = (label: string, value: string) => lines.push(`  ${`${label}:`.padEnd(15)}${value}`);
  field('Status', say.phase(status.phase, status.reason));
  if (status.message) field('Message', status.message);
  field('Instances', say.instances(status.running ?? 0, status.healthy ?? 0, instances));
  if (status.launchDelay) {
    field('Launch delay', say.delay(status.launchDelay.seconds, status.launchDelay.failures));
    field('Delayed until', say.until(status.launchDelay.until, Date.parse(status.launchDelay.until) - now));
  }
  const failure = status.lastTaskFailure;
  if (failure) {
    lines.push('  Last task failure:');
    lines.push(`    Task:     ${say.task(failure)}`);
    lines.push(`    Ended:    ${say.ended(failure, formatAge(failure.timestamp, now))}`);
    lines.push(`    Message:  ${failure.message}`);
    const output = failure.outputTail ?? [];
    if (output.length === 0) lines.push(`    ${say.noOutput}`);
    else lines.push(`    ${say.output(output.length)}`, ...output.map((line) => `      ${line}`));
  }
  return { title: 'State', body: lines.join('\n') };
}

// ---------------------------------------------------------------------------------------------
// Containers and Volumes: what a pod is made of, and where a resident App's data lives.

export function containersSection(app: AnyObject): DescribeSection {
  const spec = app.spec as Partial<AppSpec>;
  const lines: string[] = [];
  // A multi-line command (a YAML block) keeps its lines under the first.
  const field = (label: string, value: string) => lines.push(`    ${`${label}:`.padEnd(11)}${value.trimEnd().split('\n').join(`\n${' '.repeat(15)}`)}`);
  for (const container of spec.containers ?? []) {
    lines.push(`  ${container.name} (${containerRuntime({ driver: spec.driver ?? 'docker' }, container)})`);
    if (container.image !== undefined) field('Image', container.image);
    if (container.cmd !== undefined) field('Command', container.cmd);
    else if (container.args !== undefined) field('Args', JSON.stringify(container.args));
    else field('Command', say.imageDefault);
    field('Resources', say.resources(container.resources ?? {}));
    field('Mounts', (container.volumeMounts ?? []).map(say.mount).join(', ') || say.none);
  }
  return { title: 'Containers', body: lines.join('\n') || `  ${say.none}` };
}

/**
 * The App's volumes as declared, then, for a resident App (or one whose kept Volumes outlive the
 * spec that made them), its Volume objects one row per slot and volume. Undefined when there is
 * nothing to say.
 */
export function volumesSection(app: AnyObject, volumes: readonly AnyObject[], now = Date.now()): DescribeSection | undefined {
  const spec = app.spec as Partial<AppSpec>;
  const declared = spec.volumes ?? [];
  if (declared.length === 0 && volumes.length === 0) return undefined;
  const lines = declared.map((volume) => `  ${volume.name}: ${declaredKind(volume)}`);
  if (volumes.length > 0) {
    const rows = [['SLOT', 'VOLUME', 'NODE', 'SIZE', 'PHASE', 'USED', 'TASK', 'AGE', 'MESSAGE']];
    for (const volume of volumes) {
      const v = volume.spec as Partial<VolumeSpec>;
      const status = volume.status as Partial<VolumeStatus> | undefined;
      const phase = status?.phase ?? (volume.metadata.deletionTimestamp ? 'Deleting' : 'Pending');
      const age = volume.metadata.creationTimestamp ? formatAge(volume.metadata.creationTimestamp, now) : '-';
      rows.push([String(v.slot ?? '-'), volume.metadata.name, v.nodeName ?? '-', mebibytes(v.size), phase, mebibytes(status?.usedMiB), status?.task ?? '-', age, status?.message ?? '']);
    }
    lines.push(indent(formatTable(rows)));
  } else if (isResident(spec)) lines.push(`  ${say.noVolumes}`);
  return { title: 'Volumes', body: lines.join('\n') };
}

function declaredKind(volume: AppVolume): string {
  if (volume.persistent) return say.persistent(volume.persistent.size);
  if (volume.hostPath) return say.hostPath(volume.hostPath.path);
  return say.ephemeral;
}
