#!/usr/bin/env node
// Some registries (mirrors) serve only the platform packages of the machines that use them. `npm install`
// then leaves other platforms' optional binaries (@biomejs/cli-darwin-x64, @duckdb/node-bindings-win32-x64,
// ...) out of package-lock.json, and `npm ci` refuses the lock as "out of sync". This adds an entry for
// each missing optional platform package, with the os/cpu/libc its name declares, so npm ci skips it on
// every other platform. Run after `npm install` changes the lock: node scripts/complete-lockfile.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const PLATFORM = /-(darwin|linux|win32|android|freebsd)-(x64|arm64|arm|ia32)(-(musl|gnu))?$/;
let added = 0;
for (const [location, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = `${location ? `${location}/` : ''}node_modules/${name}`;
    if (lock.packages[nested] || lock.packages[`node_modules/${name}`]) continue;
    const match = PLATFORM.exec(name);
    if (!match) continue;
    lock.packages[`node_modules/${name}`] = {
      version,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      os: [match[1]],
      cpu: [match[2]],
      ...(match[4] ? { libc: [match[4] === 'gnu' ? 'glibc' : match[4]] } : {}),
    };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`added ${added} platform-only lock entries`);
