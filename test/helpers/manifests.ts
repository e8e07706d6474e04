// App manifests as a user writes them, for the tests that apply YAML (apply, scale, edit, the apply
// engine): one document per call, ending with `---` so that calls concatenate into one stream.

export interface AppYamlOptions {
  /** Left out of the manifest when not given (an App manifest without instances keeps the live count). */
  instances?: number;
  /** docker (local/busybox:1, busybox httpd) unless process (a plain process, sleep). */
  driver?: 'docker' | 'process';
  cmd?: string;
  /** One port named http with this service port. */
  servicePort?: number;
}

export function appYaml(name: string, options: AppYamlOptions = {}): string {
  const process = options.driver === 'process';
  return [
    'apiVersion: capstan/v1',
    'kind: App',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    ...(options.instances !== undefined ? [`  instances: ${options.instances}`] : []),
    ...(process ? ['  driver: process'] : []),
    '  containers:',
    ...(process ? [] : ['    - image: local/busybox:1']),
    `    ${process ? '-' : ' '} cmd: "${options.cmd ?? (process ? 'sleep 1000' : 'httpd -f -p $PORT0')}"`,
    ...(options.servicePort !== undefined ? ['  ports:', '    - name: http', `      servicePort: ${options.servicePort}`] : []),
    '---',
    '',
  ].join('\n');
}
