#!/usr/bin/env node
// Builds the `clickstream` command into dist/ so it starts without compiling TypeScript: `npm ci` runs
// it (the `prepare` script), and `npm run build` after changing the sources. bin/clickstream.js runs
// dist/ only while dist/build.json says no input changed since; otherwise it runs the sources.
//
// Each source module becomes its own file (dist/cli/main.js, dist/local/stack-process.js, ...), so
// `import.meta.url` means what it means in the sources: a module that forks itself or checks whether it
// is the main script keeps working. npm packages are bundled into shared chunks that load only when a
// module that needs them does; packages with native code, binaries or files of their own stay in
// node_modules. Last, the declarations of every command are written to dist/commands.json, so `--help`
// (of the program or of any command) loads none of the command modules.
import { renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = 'bin/clickstream.ts';
// Modules started by path rather than imported (a worker thread's entry), so no import leads to them.
const STARTED_BY_PATH = ['local/consumer-worker.ts'];
const DIST = join(ROOT, 'dist');
// Native addons (duckdb, kinesalite's leveldown), packages that load their own files by computed name
// (maildev's web UI, dynalite's and kinesalite's per-action modules), the dynoxide binary (resolved by
// path), tsx (handed to child processes by path), and s3rver with the other emulators, so `local up`
// runs each emulator from node_modules exactly as the tests do.
const KEEP_EXTERNAL = [
  '@duckdb/node-api',
  '@dynoxide/*',
  'dynalite',
  'kinesalite',
  'maildev',
  's3rver',
  'tsx',
];
// Stale-build check inputs besides the sources: a changed lock file may change a bundled package.
const EXTRA_INPUTS = ['package-lock.json', 'scripts/build-cli.mjs'];

/** Relative `.ts` imports between our own modules stay imports, of the `.js` file built beside them. */
const ownModulesStayApart = {
  name: 'own-modules-stay-apart',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\/.*\.ts$/ }, (args) => {
      if (args.kind === 'entry-point' || args.importer.includes('/node_modules/')) return undefined;
      return { path: args.path.replace(/\.ts$/, '.js'), external: true };
    });
  },
};

/** Every source file reachable from the entry point, found by a bundling pass that writes nothing. */
async function sourceFiles() {
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [ENTRY, ...STARTED_BY_PATH],
    bundle: true,
    write: false,
    outdir: 'unwritten',
    metafile: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'error',
  });
  return Object.keys(result.metafile.inputs).filter((path) => !path.startsWith('node_modules/'));
}

async function build() {
  const startedAt = Date.now();
  const sources = await sourceFiles();
  // TypeScript modules become files of their own; anything else they import (JSON) is built into them.
  const modules = sources.filter((path) => path.endsWith('.ts'));
  const out = `${DIST}-${process.pid}.tmp`;
  rmSync(out, { recursive: true, force: true });
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: modules,
    outdir: out,
    outbase: '.',
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: KEEP_EXTERNAL,
    plugins: [ownModulesStayApart],
    // Bundled CommonJS packages call require(); ESM output has none of its own.
    banner: {
      js: "import { createRequire as __clickstreamRequire } from 'node:module'; const require = __clickstreamRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  // Modules find sql/ as `../sql` from their own folder, one level below the root as in the sources.
  symlinkSync('../sql', join(out, 'sql'), 'dir');
  const { describeCommands } = await import(pathToFileURL(join(out, 'cli', 'declarations.js')).href);
  writeFileSync(join(out, 'commands.json'), `${JSON.stringify(await describeCommands())}\n`);
  const inputs = [...sources, ...EXTRA_INPUTS].sort();
  writeFileSync(join(out, 'build.json'), `${JSON.stringify({ startedAt, inputs }, null, 2)}\n`);
  rmSync(DIST, { recursive: true, force: true });
  renameSync(out, DIST);
  return { modules: modules.length, ms: Date.now() - startedAt };
}

const { modules, ms } = await build();
process.stdout.write(`built ${relative(ROOT, DIST)}/ from ${modules} modules in ${ms} ms\n`);
