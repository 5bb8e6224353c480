/**
 * What package.json promises about the runtime dependencies: each one is used by the code, and each
 * one's licence lets an Apache-2.0 project ship it. A dependency nothing imports only costs installs
 * and audits; a copyleft one would change what the project may be distributed under.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
};
const runtime = Object.keys(manifest.dependencies);

/** SPDX identifiers that allow redistribution inside an Apache-2.0 project without conditions on it. */
const PERMISSIVE = new Set([
  '0BSD',
  'Apache-2.0',
  'BlueOak-1.0.0',
  'BSD-2-Clause',
  'BSD-3-Clause',
  'CC0-1.0',
  'ISC',
  'MIT',
  'MIT-0',
  'Unlicense',
]);

/**
 * True when an SPDX expression may be taken under a permissive licence: one alternative of an OR is
 * enough, every part of an AND must be. (npm's license fields use no nesting deeper than that.)
 */
function isPermissive(expression: string): boolean {
  const bare = expression.trim().replace(/^\((.*)\)$/, '$1');
  return bare
    .split(/\s+OR\s+/)
    .some((alternative) => alternative.split(/\s+AND\s+/).every((id) => PERMISSIVE.has(id.trim())));
}

function licenceOf(name: string): string {
  const installed = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
    license?: string | { type?: string };
  };
  const license = installed.license;
  return typeof license === 'string' ? license : (license?.type ?? 'UNKNOWN');
}

const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'cdk.out', '.clickstream', '.git', 'coverage']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isDirectory()) return SKIPPED_DIRS.has(entry.name) ? [] : sourceFiles(join(dir, entry.name));
    return /\.(ts|mts|js|mjs|cjs)$/.test(entry.name) ? [join(dir, entry.name)] : [];
  });
}

/** Every package a source file names in an import, an import(), a require() or a require.resolve(). */
function importedPackages(): Set<string> {
  const specifier = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*|\.resolve\(\s*)['"]([^'".][^'"]*)['"]/g;
  const packages = new Set<string>();
  for (const file of sourceFiles(ROOT)) {
    for (const match of readFileSync(file, 'utf8').matchAll(specifier)) {
      const path = match[1] as string;
      const parts = path.split('/');
      packages.add(path.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string));
    }
  }
  return packages;
}

describe('runtime dependencies', () => {
  it('are each imported by some source file', () => {
    const imported = importedPackages();
    expect(runtime.filter((name) => !imported.has(name))).toEqual([]);
  });

  it('carry permissive licences', () => {
    const offending = runtime
      .map((name) => ({ name, license: licenceOf(name) }))
      .filter(({ license }) => !isPermissive(license));
    expect(offending).toEqual([]);
  });

  it('judges licence expressions by their alternatives', () => {
    expect(isPermissive('MIT')).toBe(true);
    expect(isPermissive('(MIT OR GPL-3.0-or-later)')).toBe(true);
    expect(isPermissive('(MPL-2.0 OR Apache-2.0)')).toBe(true);
    expect(isPermissive('GPL-3.0-only')).toBe(false);
    expect(isPermissive('(MIT AND GPL-2.0-only)')).toBe(false);
    expect(isPermissive('UNKNOWN')).toBe(false);
  });
});
