/**
 * The import direction `npm run lint:deps` enforces (.dependency-cruiser.cjs) catches what it is meant
 * to: the project's own config, run by the same depcruise command on a tiny tree that breaks each rule
 * once beside imports every rule allows, reports exactly the broken ones and exits non-zero. A rule that
 * matched nothing (a wrong path pattern) would pass the real tree too, so this is what shows that the
 * real tree passing means something.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const DEPCRUISE = join(ROOT, 'node_modules', '.bin', 'depcruise');

/** Each file of the fixture tree and what it imports. */
const FIXTURE: Record<string, string> = {
  'tsconfig.json': JSON.stringify({
    compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', allowImportingTsExtensions: true },
  }),
  // Broken: core imports the AWS SDK, and another part.
  'core/pure.ts': [
    "import { S3Client } from '@aws-sdk/client-s3';",
    "import { part } from '../adapters/part.ts';",
    'export const pure = [S3Client, part];',
  ].join('\n'),
  // Allowed: a part imports core; broken: it imports the CLI (a type import counts too).
  'adapters/part.ts': [
    "import type { Spec } from '../cli/spec.ts';",
    "import { flag } from '../core/flag.ts';",
    'export const part: Spec = flag;',
  ].join('\n'),
  'core/flag.ts': 'export const flag = 1;',
  // Allowed: the CLI imports the parts, and bin imports the CLI.
  'cli/spec.ts': 'export type Spec = number;',
  'cli/run.ts': "import { part } from '../adapters/part.ts';\nexport const run = part;",
  'bin/main.ts': "import { run } from '../cli/run.ts';\nexport const main = run;",
  // Broken: a consumer imports the local stack; the two local modules import each other.
  'consumers/handler.ts': "import { stack } from '../local/stack.ts';\nexport const handler = stack;",
  'local/stack.ts': "import { child } from './child.ts';\nexport const stack = child;",
  'local/child.ts': "export async function child() {\n  return (await import('./stack.ts')).stack;\n}",
};

let fixture: string;

beforeAll(() => {
  fixture = mkdtempSync(join(tmpdir(), 'clickstream-depcruise-'));
  for (const [path, text] of Object.entries(FIXTURE)) {
    mkdirSync(dirname(join(fixture, path)), { recursive: true });
    writeFileSync(join(fixture, path), `${text}\n`);
  }
  // The AWS SDK resolves as it does in the project: through its node_modules.
  symlinkSync(join(ROOT, 'node_modules'), join(fixture, 'node_modules'), 'dir');
});

afterAll(() => {
  if (fixture) rmSync(fixture, { recursive: true, force: true });
});

describe('the import direction check', () => {
  it('reports every broken rule of the fixture, and nothing it allows, with a failing exit code', async () => {
    // The command and the output npm run lint:deps gives: one `error <rule>: <from> → <to>` line per
    // violation (a cycle's modules follow on lines of their own), the exit code their count.
    const failure = await promisify(execFile)(
      DEPCRUISE,
      [
        'core',
        'adapters',
        'cli',
        'bin',
        'consumers',
        'local',
        '--config',
        join(ROOT, '.dependency-cruiser.cjs'),
      ],
      { cwd: fixture, timeout: 45_000 },
    ).then(
      () => undefined,
      (error: { code?: number; stdout?: string }) => error,
    );
    const found = [...(failure?.stdout ?? '').matchAll(/^\s*error ([\w-]+): (\S+) → ?(\S*)$/gm)]
      .map(([, rule, from, to]) => `${rule}: ${from} -> ${to?.replace(/^.*\/node_modules\//, '')}`)
      .sort();
    expect(found).toEqual([
      'consumers-not-local-or-cli: consumers/handler.ts -> local/stack.ts',
      'core-has-no-aws: core/pure.ts -> @aws-sdk/client-s3/dist-cjs/index.js',
      'core-is-pure: core/pure.ts -> adapters/part.ts',
      // A cycle is one violation, its modules on the lines after (the dynamic import() counts).
      'no-circular: local/child.ts -> ',
      'only-the-cli-imports-the-cli: adapters/part.ts -> cli/spec.ts',
    ]);
    expect(failure?.code).toBe(found.length);
  });
});
