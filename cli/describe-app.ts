// `capstan describe app`: the App's state in Marathon's words, read from its status: the phase and
// why, instances running and healthy, the launch delay after failures and when it ends, and the last
// task failure with the last lines of its output. Pure, from the object.
import type { AppSpec, AppStatus, TaskFailure } from '../api/kinds/app.ts';
import type { AnyObject } from '../api/object.ts';
import type { DescribeSection } from './describe.ts';
import { formatAge } from './io.ts';

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
