#!/usr/bin/env node
// The package bin (`npx clickstream`). It runs the JavaScript that `npm ci` builds into dist/
// (scripts/build-cli.mjs), and the TypeScript sources through tsx when any of them changed since that
// build, so a checkout never runs stale code (`npm run build` makes it fast again).
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { builtIsFresh, needsLegacyProvider, relaunchWithLegacyProvider, stopWithParent } from './launch.js';

// The SDK's notice that its 2027 releases need Node 22 is for us (package.json engines), not for every run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const self = fileURLToPath(import.meta.url);
const root = join(dirname(self), '..');
const args = process.argv.slice(2);

if (needsLegacyProvider(args)) {
  relaunchWithLegacyProvider([...process.execArgv, self, ...args]);
} else {
  stopWithParent();
  if (builtIsFresh(root)) {
    await import(pathToFileURL(join(root, 'dist', 'bin', 'clickstream.js')).href);
  } else {
    if (process.stderr.isTTY)
      process.stderr.write('(running from the sources, which changed since the last `npm run build`)\n');
    const { register } = await import('tsx/esm/api');
    register();
    await import(pathToFileURL(join(root, 'bin', 'clickstream.ts')).href);
  }
}
