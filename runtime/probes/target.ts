// Where a network check points: the task's node address and one of its host ports, chosen by
// portIndex or portName (Marathon's fields) among the template's ports, in the order of
// spec.hostPorts the scheduler wrote.
import type { AppTemplate } from '../../api/kinds/app.ts';
import type { DeepReadonly } from '../../api/object.ts';

export const targetProblems = {
  noPortName: (name: string, names: string[]) => `no port named "${name}" (the template's ports: ${names.join(', ') || 'none'})`,
  noHostPort: (index: number, count: number) => `portIndex ${index} has no host port (the task has ${count})`,
};

/** The host port a check names, or a sentence saying why there is none. */
export function hostPortOf(
  check: { portIndex?: number | undefined; portName?: string | undefined },
  template: DeepReadonly<Pick<AppTemplate, 'ports'>>,
  hostPorts: readonly number[],
): { port: number } | { problem: string } {
  let index = check.portIndex ?? 0;
  if (check.portName !== undefined) {
    index = template.ports.findIndex((p) => p.name === check.portName);
    if (index < 0) return { problem: targetProblems.noPortName(check.portName, template.ports.flatMap((p) => (p.name ? [p.name] : []))) };
  }
  const port = hostPorts[index];
  return port === undefined ? { problem: targetProblems.noHostPort(index, hostPorts.length) } : { port };
}
