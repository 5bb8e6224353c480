import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { COMMANDS } from '../../cli/commands.ts';
import { type CommandDeclaration, declareCommand, describeCommand } from '../../cli/declarations.ts';
import { addCommand, createProgram } from '../../cli/program.ts';
import { runBin, runMain } from '../support/cli-support.ts';

const GLOBAL_FLAGS = ['--local', '--region <region>', '--config <file>'];

/** Every command path: ['query'], ['local'], ['local', 'up'], ... */
async function commandPaths(): Promise<string[][]> {
  const paths: string[][] = [];
  for (const entry of COMMANDS) {
    const loaded = await entry.load();
    paths.push([entry.name]);
    if ('actions' in loaded) for (const action of loaded.actions) paths.push([entry.name, action.name]);
  }
  return paths;
}

describe('declarations (what help and parsing use without loading a command)', () => {
  it('print the same help as every command and action they were described from', async () => {
    for (const entry of COMMANDS) {
      const real = addCommand(createProgram(), await entry.load(), async () => undefined);
      // Through JSON, as the build stores them in dist/commands.json.
      const declaration: CommandDeclaration = JSON.parse(JSON.stringify(describeCommand(real)));
      const declared = declareCommand(createProgram(), declaration);
      expect(declared.helpInformation()).toBe(real.helpInformation());
      expect(declared.commands.map((c) => c.helpInformation())).toEqual(
        real.commands.map((c) => c.helpInformation()),
      );
    }
  });
});

describe('help', () => {
  it('shows the global flags in the help of every command and action', async () => {
    const paths = await commandPaths();
    expect(paths.map((path) => path.join(' '))).toEqual([
      'local',
      'local up',
      'local down',
      'local status',
      'generate',
      'replay',
      'redrive',
      'query',
      'report',
      'verify',
      'smoke',
      'demo',
    ]);
    for (const path of paths) {
      const { code, stdout } = await runMain([...path, '--help']);
      expect(code, path.join(' ')).toBe(0);
      const globals = stdout.slice(stdout.indexOf('Global Options:'));
      expect(stdout, path.join(' ')).toContain('Global Options:');
      for (const flag of GLOBAL_FLAGS) expect(globals, `${path.join(' ')} ${flag}`).toContain(flag);
    }
  });

  it('gives local up, down and status a help of their own', async () => {
    const help: string[] = [];
    for (const action of ['up', 'down', 'status'])
      help.push((await runMain(['local', action, '--help'])).stdout);
    const [up, down, status] = help;
    expect(up).toMatch(/^Usage: clickstream local up \[options\]\n\nstart the emulators/);
    expect(down).toMatch(/^Usage: clickstream local down \[options\]\n\nstop the stack/);
    expect(status).toMatch(/^Usage: clickstream local status \[options\]\n\nwhether a stack runs/);
    expect(up).toContain('--ports <list>');
    expect(down).not.toContain('--ports');
    expect(status).not.toContain('--ports');
    const local = (await runMain(['local', '--help'])).stdout;
    for (const action of ['up', 'down', 'status'])
      expect(local).toMatch(new RegExp(`\\n  ${action} \\[options\\] `));
  });

  it('runs status when local names no action, and answers an unknown action with a hint', async () => {
    const unknown = await runMain(['local', 'sideways']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toEqual([
      'error: unknown action "sideways"',
      'hint: use one of: clickstream local up | down | status',
    ]);
  });

  it('documents smoke in its help, and ends it with one line and a hint when no local stack runs', async () => {
    const help = (await runMain(['smoke', '--help'])).stdout;
    expect(help).toMatch(/^Usage: clickstream smoke \[options\]\n\nPost-deploy smoke test\./);
    for (const flag of ['--stack <name>', '--events <n>', '--bots <n>', '--max-wait <seconds>', '--json'])
      expect(help).toContain(flag);
    expect(help).toContain('SKIPPED');
    vi.stubEnv('CLICKSTREAM_STATE_FILE', join(tmpdir(), `clickstream-no-stack-${process.pid}.json`));
    const noStack = await runMain(['smoke', '--local']);
    expect(noStack.code).toBe(2);
    expect(noStack.stderr.trim().split('\n')).toEqual([
      'error: no local stack is running',
      'hint: start it with `clickstream local up` in another terminal, or run `npm run demo` for the whole pipeline',
    ]);
  });

  it('prints a subcommand help through the package bin', async () => {
    const { code, stdout } = await runBin(['query', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: clickstream query \[options\] \[name\]/);
    expect(stdout).toContain('--region <region>');
  });
});
