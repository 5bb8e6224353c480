/**
 * Lines of every function, method, arrow, accessor and constructor in the non-test TypeScript
 * sources, longest first: how issue #16's "no function over 150 lines" is measured. A nested
 * function counts inside its parent as well as on its own, so a closure-heavy factory shows up
 * at its full length.
 *
 *   npx tsx scripts/function-lengths.ts [--over N] [DIR...]
 * Exits 1 when a function is longer than --over (default 150).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import ts from 'typescript';

const SOURCE_DIRS = [
  'bin',
  'cli',
  'core',
  'adapters',
  'producer',
  'consumers',
  'analytics',
  'infra',
  'local',
  'scripts',
];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { over: { type: 'string', default: '150' }, top: { type: 'string', default: '20' } },
});
const limit = Number(values.over);
const root = process.cwd();

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...sourceFiles(path));
    else if (/\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts') && !/\.test\.ts$/.test(name))
      files.push(path);
  }
  return files;
}

interface Measured {
  where: string;
  name: string;
  lines: number;
}

function functionName(node: ts.Node, file: ts.SourceFile): string {
  if (ts.isConstructorDeclaration(node))
    return `${(node.parent as ts.ClassDeclaration).name?.text ?? '<class>'} constructor`;
  const named = node as ts.FunctionDeclaration | ts.MethodDeclaration;
  if (named.name) return named.name.getText(file);
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)))
    return parent.name.getText(file);
  return '<anonymous>';
}

function measure(path: string): Measured[] {
  const file = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: Measured[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const end = file.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({
        where: `${relative(root, path)}:${start + 1}`,
        name: functionName(node, file),
        lines: end - start + 1,
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

const dirs = positionals.length > 0 ? positionals : SOURCE_DIRS;
const all = dirs.flatMap((dir) => sourceFiles(join(root, dir)).flatMap(measure));
all.sort((a, b) => b.lines - a.lines);
for (const entry of all.slice(0, Number(values.top))) {
  console.log(`${String(entry.lines).padStart(5)}  ${entry.name}  ${entry.where}`);
}
const over = all.filter((entry) => entry.lines > limit);
// Whatever --top says, every function over the limit is named: the failure must say what to split.
for (const entry of over.slice(Number(values.top))) {
  console.log(`${String(entry.lines).padStart(5)}  ${entry.name}  ${entry.where}`);
}
console.log(`${all.length} functions; ${over.length} over ${limit} lines`);
process.exitCode = over.length > 0 ? 1 : 0;
