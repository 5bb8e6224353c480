/**
 * The CloudFormation template the local stack is built from. Either the CDK app in infra/ synthesized
 * here, offline and in-process, with the context a user would pass to `cdk synth -c key=value`, and
 * cached under `.clickstream/templates/<hash>.json` by a hash of everything that shapes it; or a
 * template the user synthesized themselves (`--template cdk.out/Clickstream.template.json`).
 *
 * What the local synthesis leaves out, because a local run does not need it: Lambda bundling (context
 * `aws:cdk:bundling-stacks: []`; the local runner imports the handler modules themselves) and the
 * built-in CloudFormation validation (about 30 s of WebAssembly on 2 cores; `npm run synth` and the CDK
 * tests still run it). cdk-nag stays: it costs under a second and its findings fail `cdk synth` too.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type CfnTemplate,
  type LocalConfig,
  type LocalConfigOptions,
  localConfigFromTemplate,
  TemplateError,
} from './template.ts';

/**
 * The project whose CDK app is synthesized: the nearest directory above this module that holds cdk.json
 * (the project root for the sources, and for the built CLI in dist/ as well).
 */
export const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)));
export const DEFAULT_TEMPLATE_CACHE = join('.clickstream', 'templates');

/** Bumped when what this module feeds the synthesis changes, so older cache entries are not reused. */
const SYNTH_RECIPE = 'local-synth-1: no bundling, no built-in CloudFormation validation';

/** Who receives the bot alerts locally: the local mailbox. */
export const LOCAL_ALERT_EMAIL = 'ops@clickstream.local';

/**
 * Context a local run adds unless the user sets the key. Without alertEmail the CDK app subscribes no
 * one to the alert topic; locally there is a mailbox to read them in.
 */
export const LOCAL_DEFAULT_CONTEXT: Readonly<Record<string, string>> = { alertEmail: LOCAL_ALERT_EMAIL };

export interface TemplateOptions {
  /** A synthesized template to use as it is; context cannot apply to it. */
  templateFile?: string;
  /** CDK context overrides, as `cdk synth -c key=value` passes them (values are strings). */
  context?: Readonly<Record<string, string>>;
  /** Cache directory (default `.clickstream/templates` under the working directory). */
  cacheDir?: string;
}

export interface LoadedTemplate {
  template: CfnTemplate;
  /** `file`: given with --template; `cached`: synthesized earlier with the same inputs. */
  source: 'file' | 'cached' | 'synthesized';
  /** The template file read or written. */
  path: string;
  context: Readonly<Record<string, string>>;
  ms: number;
}

export async function loadTemplate(options: TemplateOptions = {}): Promise<LoadedTemplate> {
  const started = performance.now();
  const context = options.context ?? {};
  const elapsed = () => Math.round(performance.now() - started);
  if (options.templateFile) {
    if (Object.keys(context).length > 0) {
      throw new TemplateError(
        `context (${formatContext(context)}) cannot change a template that is already synthesized`,
        `synthesize it with that context (npx cdk synth -c key=value), or drop --template`,
      );
    }
    const path = resolve(options.templateFile);
    return { template: readTemplate(path), source: 'file', path, context, ms: elapsed() };
  }
  const cacheDir = resolve(options.cacheDir ?? DEFAULT_TEMPLATE_CACHE);
  const path = join(cacheDir, `${templateInputsHash(PROJECT_ROOT, context)}.json`);
  if (existsSync(path)) {
    return { template: readTemplate(path), source: 'cached', path, context, ms: elapsed() };
  }
  const template = await synthesizeTemplate(context);
  mkdirSync(cacheDir, { recursive: true });
  // Written aside and renamed: another process reading the cache never sees half a file.
  const partial = `${path}.${process.pid}.tmp`;
  writeFileSync(partial, JSON.stringify(template));
  renameSync(partial, path);
  return { template, source: 'synthesized', path, context, ms: elapsed() };
}

/** The template (synthesized, cached or given) read as the local stack's configuration. */
export async function loadLocalConfig(
  options: TemplateOptions & LocalConfigOptions = {},
): Promise<{ config: LocalConfig; template: LoadedTemplate }> {
  const template = await loadTemplate(options);
  try {
    return { config: localConfigFromTemplate(template.template, options), template };
  } catch (error) {
    if (error instanceof TemplateError && template.source === 'file')
      error.message = `${template.path}: ${error.message}`;
    throw error;
  }
}

/** Synthesizes the CDK app in this process and returns its one stack's template. */
export async function synthesizeTemplate(context: Readonly<Record<string, string>>): Promise<CfnTemplate> {
  // Loaded only on a cache miss: aws-cdk-lib and cdk-nag take seconds to import.
  const { buildApp } = await importCdkApp();
  const outdir = await mkdtemp(join(tmpdir(), 'clickstream-synth-'));
  try {
    const { app, stack } = buildApp({
      outdir,
      builtinCloudFormationValidation: false,
      context: { ...cdkJsonContext(PROJECT_ROOT), ...context, 'aws:cdk:bundling-stacks': [] },
    });
    return app.synth().getStackArtifact(stack.artifactId).template as CfnTemplate;
  } catch (error) {
    // By name: the built CLI's own copy of infra/config.ts is not the one the app was loaded with.
    if (error instanceof Error && error.name === 'ConfigError') {
      throw new TemplateError(error.message, 'fix the -c/--context value', { cause: error });
    }
    throw error;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * The CDK app, always from its sources (infra/*.ts): the built CLI (dist/) carries no copy of it, since
 * aws-cdk-lib finds files of its own next to its modules and cannot be bundled. From the sources (tsx,
 * vitest) TypeScript imports already work; the built CLI registers tsx first, as bin/clickstream.js does
 * when it runs the sources. The path is computed, so the build does not follow it into infra/.
 */
async function importCdkApp(): Promise<typeof import('../infra/pipeline-app.ts')> {
  if (!new URL(import.meta.url).pathname.endsWith('.ts')) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  const app = pathToFileURL(join(PROJECT_ROOT, 'infra', 'pipeline-app.ts')).href;
  return (await import(app)) as typeof import('../infra/pipeline-app.ts');
}

function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'cdk.json'))) return dir;
    // None found: the parent of local/, where it is in the sources; reading cdk.json then says it is missing.
    if (dirname(dir) === dir) return dirname(start);
  }
}

/**
 * The cache key: the synthesis recipe, the context, and every file that can change the template. Which
 * files those are, cdk.json says already (`watch.include`, what `cdk watch` re-synthesizes on), plus
 * cdk.json itself and package-lock.json (the aws-cdk-lib version).
 */
export function templateInputsHash(root: string, context: Readonly<Record<string, string>>): string {
  const hash = createHash('sha256').update(SYNTH_RECIPE);
  const sorted = Object.keys(context)
    .sort()
    .map((key) => [key, context[key]]);
  hash.update(`\0context\0${JSON.stringify(sorted)}`);
  for (const file of synthInputFiles(root)) {
    hash.update(`\0${relative(root, file).split(sep).join('/')}\0`);
    hash.update(readFileSync(file));
  }
  return hash.digest('hex').slice(0, 24);
}

export function synthInputFiles(root: string): string[] {
  const cdkJson = readCdkJson(root);
  const include = cdkJson.watch?.include ?? [];
  const exclude = new Set(cdkJson.watch?.exclude ?? []);
  const files = new Set<string>([join(root, 'cdk.json'), join(root, 'package-lock.json')]);
  for (const pattern of include) {
    if (pattern.endsWith('/**')) {
      for (const file of walk(join(root, pattern.slice(0, -3)), exclude)) files.add(file);
    } else if (!/[*?[{]/.test(pattern)) {
      if (existsSync(join(root, pattern))) files.add(join(root, pattern));
    } else {
      throw new TemplateError(
        `cdk.json watch.include pattern "${pattern}" is not one the template cache can follow`,
        'use "dir/**" or a plain file path',
      );
    }
  }
  return [...files].filter((file) => existsSync(file)).sort();
}

function walk(directory: string, exclude: ReadonlySet<string>): string[] {
  if (!existsSync(directory)) return [];
  const files: string[] = [];
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    if (exclude.has(entry.name)) continue;
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...walk(path, exclude));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

interface CdkJson {
  context?: Record<string, unknown>;
  watch?: { include?: string[]; exclude?: string[] };
}

function readCdkJson(root: string): CdkJson {
  return JSON.parse(readFileSync(join(root, 'cdk.json'), 'utf8')) as CdkJson;
}

/** The context `cdk synth` reads from cdk.json (feature flags); `-c` values go on top of it. */
export function cdkJsonContext(root: string = PROJECT_ROOT): Record<string, unknown> {
  return readCdkJson(root).context ?? {};
}

function readTemplate(path: string): CfnTemplate {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TemplateError(
      `cannot read template ${path}`,
      'synthesize one with `npx cdk synth` (cdk.out/Clickstream.template.json)',
      { cause: error },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new TemplateError(`template ${path} is not JSON`, 'give the .template.json file from cdk.out', {
      cause: error,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || !('Resources' in parsed)) {
    throw new TemplateError(
      `${path} is not a CloudFormation template (no Resources)`,
      'give the .template.json file from cdk.out',
    );
  }
  return parsed as CfnTemplate;
}

export function formatContext(context: Readonly<Record<string, string>>): string {
  const entries = Object.entries(context);
  return entries.length === 0 ? 'none' : entries.map(([key, value]) => `${key}=${value}`).join(' ');
}
