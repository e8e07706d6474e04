import { Readable } from 'node:stream';
import { Help } from 'commander';
import { describe, expect, it } from 'vitest';
import type { Act } from './command.ts';
import { buildProgram, commandNamed, COMMANDS, runCli } from './program.ts';

const act: Act = () => async () => undefined;

describe('the lazy command declarations', () => {
  it.each(COMMANDS.map((declared) => ({ ...declared })))('$name is declared with the term its definition has', async ({ term, name, aliases, load }) => {
    const command = (await load())(act);
    expect(command.name()).toBe(name);
    expect(command.aliases()).toEqual(aliases);
    expect(term, `write lazy('${new Help().subcommandTerm(command)}', ...) in cli/program.ts`).toBe(new Help().subcommandTerm(command));
  });

  it('declares each name once, each summary on one line', () => {
    expect(new Set(COMMANDS.map((c) => c.name)).size).toBe(COMMANDS.length);
    expect(COMMANDS.filter((c) => c.summary.includes('\n') || c.summary.length > 100).map((c) => c.name)).toEqual([]);
  });

  it('loads the definition of the command run and declares the others only', async () => {
    const program = await buildProgram(act, 'get');
    const defined = program.commands.filter((c) => c.options.length > 0 || c.registeredArguments.length > 0).map((c) => c.name());
    expect(defined).toEqual(['get']);
    expect((await buildProgram(act)).commands.filter((c) => c.options.length > 0 || c.registeredArguments.length > 0)).toEqual([]);
  });
});

describe('commandNamed', () => {
  it.each([
    { argv: ['get', 'apps', '-A'], name: 'get' },
    { argv: ['-n', 'shop', 'get', 'apps'], name: 'get' },
    { argv: ['--etcd', 'h:1', 'describe', 'app', 'web'], name: 'describe' },
    { argv: ['--etcd=h:1', 'scale', 'web', '3'], name: 'scale' },
    { argv: ['get', '--etcd', 'h:1', 'apps'], name: 'get' },
    { argv: ['help', 'apply'], name: 'apply' },
    { argv: ['apply', '--help'], name: 'apply' },
    { argv: ['--help'], name: undefined },
    { argv: [], name: undefined },
    { argv: ['--etcd'], name: undefined },
    { argv: ['-A', 'get', 'apps'], name: undefined },
  ])('$argv → $name', ({ argv, name }) => {
    expect(commandNamed(argv)).toBe(name);
  });
});

describe('help', () => {
  const run = async (argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await runCli({
      argv,
      env: { NO_COLOR: '1' },
      stdout: { write: (text: string) => (stdout += text), isTTY: false },
      stderr: { write: (text: string) => (stderr += text), isTTY: false },
      stdin: Readable.from(['']),
      cwd: '/',
      homedir: '/nonexistent',
    });
    return { code, stdout, stderr };
  };

  it('capstan --help lists every command by its term and summary', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    for (const { term, summary } of COMMANDS) expect(stdout.replace(/\s+/g, ' ')).toContain(`${term} ${summary}`);
  });

  it.each([['help', 'get'], ['get', '--help']])('capstan %s %s shows the options of get itself', async (...argv) => {
    const { code, stdout } = await run(argv);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: capstan get [options] <kind> [name]');
    expect(stdout).toContain('--all-namespaces');
  });

  it('an unknown command is a usage error that suggests the near name', async () => {
    const { code, stderr } = await run(['gte', 'apps']);
    expect(code).toBe(2);
    expect(stderr).toContain("(Did you mean get?)");
  });
});
