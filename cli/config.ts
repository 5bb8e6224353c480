/**
 * Where AWS calls go, settled once at the edge: flags > environment (CLICKSTREAM_*, AWS_*) > config
 * file > defaults. Everything below the CLI receives the resolved AwsTarget and never reads env itself.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import type { LocalEndpoints } from '../adapters/clients.ts';
import { DEFAULT_RESOURCE_NAMES, LOCAL_REGION, type ResourceNames } from '../core/resources.ts';
import { identify, isAlive } from '../local/processes.ts';
import { type AwsTarget, ClickstreamError } from './command.ts';

export const DEFAULT_CONFIG_FILE = 'clickstream.config.json';
export const DEFAULT_STATE_FILE = '.clickstream/local-stack.json';

const namesSchema = z
  .object(
    Object.fromEntries(Object.keys(DEFAULT_RESOURCE_NAMES).map((key) => [key, z.string().min(1)])) as Record<
      keyof ResourceNames,
      z.ZodString
    >,
  )
  .partial()
  .strict();

const configFileSchema = z
  .object({
    mode: z.enum(['local', 'aws']).optional(),
    region: z.string().min(1).optional(),
    stateFile: z.string().min(1).optional(),
    names: namesSchema.optional(),
  })
  .strict();
export type ConfigFile = z.infer<typeof configFileSchema>;

/** A process as `local/processes.ts` records it: PID, start time and command line. */
export const processIdentitySchema = z.object({
  pid: z.number().int(),
  startTime: z.string(),
  command: z.string(),
});

const consumerProgressSchema = z.object({
  records: z.number(),
  buffered: z.number(),
  openWindows: z.number(),
  shards: z.number(),
  shardsCaughtUp: z.number(),
  dynamodbCalls: z.number(),
});

const stateFileSchema = z.object({
  pid: z.number().int(),
  /** The `local up` process itself, so that a reused PID is not taken for the stack. */
  owner: processIdentitySchema.optional(),
  startedAt: z.string(),
  endpoints: z.object({ kinesis: z.string(), dynamodb: z.string(), s3: z.string(), sns: z.string() }),
  names: namesSchema.required(),
  mailUrl: z.string().optional(),
  topicArn: z.string(),
  /** Whether the Kinesis shard limits are enforced (absent: written before they existed). */
  kinesisLimits: z.boolean().optional(),
  /** What they refused per stream, as `local up` last wrote it down (every few seconds). */
  throttles: z.record(z.string(), z.object({ writes: z.number(), reads: z.number() })).optional(),
  /** Where the consumers stand, as `local up` last wrote it down (every few seconds, when it changed), and when. */
  pipeline: z
    .object({
      aggregator: consumerProgressSchema,
      alerter: consumerProgressSchema,
      lake: z.object({ records: z.number(), objects: z.number() }),
      mail: z.object({ delivered: z.number(), pending: z.number(), lastError: z.string().optional() }),
      notedAt: z.string(),
    })
    .optional(),
});
export type LocalStackState = z.infer<typeof stateFileSchema>;

export interface TargetFlags {
  local?: boolean;
  region?: string;
  config?: string;
}

export interface ResolvedSettings {
  mode: 'local' | 'aws';
  region?: string;
  stateFile: string;
  names: ResourceNames;
  configFile?: string;
}

/** ResourceNames key → env var, e.g. eventsStream → CLICKSTREAM_EVENTS_STREAM. */
export function nameEnvVar(key: keyof ResourceNames): string {
  return `CLICKSTREAM_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export function resolveSettings(
  flags: TargetFlags,
  env: NodeJS.ProcessEnv,
  cwd = process.cwd(),
): ResolvedSettings {
  const configPath = flags.config ?? env.CLICKSTREAM_CONFIG;
  const file = loadConfigFile(
    configPath ? resolve(cwd, configPath) : resolve(cwd, DEFAULT_CONFIG_FILE),
    !!configPath,
  );
  const envMode = env.CLICKSTREAM_MODE ?? (env.CLICKSTREAM_LOCAL === '1' ? 'local' : undefined);
  if (envMode !== undefined && envMode !== 'local' && envMode !== 'aws') {
    throw new ClickstreamError(`CLICKSTREAM_MODE must be "local" or "aws", got "${envMode}"`);
  }
  const mode = flags.local ? 'local' : (envMode ?? file.config?.mode ?? 'aws');
  const envNames: Partial<ResourceNames> = {};
  for (const key of Object.keys(DEFAULT_RESOURCE_NAMES) as Array<keyof ResourceNames>) {
    const value = env[nameEnvVar(key)];
    if (value) envNames[key] = value;
  }
  const region =
    flags.region ?? env.CLICKSTREAM_REGION ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? file.config?.region;
  return {
    mode,
    ...(region ? { region } : {}),
    stateFile: resolve(cwd, env.CLICKSTREAM_STATE_FILE ?? file.config?.stateFile ?? DEFAULT_STATE_FILE),
    names: { ...DEFAULT_RESOURCE_NAMES, ...file.config?.names, ...envNames },
    ...(file.path ? { configFile: file.path } : {}),
  };
}

function loadConfigFile(path: string, required: boolean): { config?: ConfigFile; path?: string } {
  if (!existsSync(path)) {
    if (required)
      throw new ClickstreamError(`config file not found: ${path}`, 'check --config / CLICKSTREAM_CONFIG');
    return {};
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ClickstreamError(`config file ${path} is not valid JSON`, 'fix the JSON syntax', {
      cause: error,
    });
  }
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ClickstreamError(
      `config file ${path}: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`,
      `allowed keys: mode, region, stateFile, names (${Object.keys(DEFAULT_RESOURCE_NAMES).join(', ')})`,
    );
  }
  return { config: parsed.data, path };
}

export function readStateFile(path: string): LocalStackState | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const parsed = stateFileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True while the stack recorded in the state file still runs: the very process that wrote it (same
 * PID, start time and command line), not merely some process that has its PID by now.
 */
export function stackIsRunning(state: LocalStackState): boolean {
  return state.owner ? isAlive(state.owner) : identify(state.pid) !== undefined;
}

/** Turns resolved settings into a target; in local mode the endpoints come from the running stack's state file. */
export function targetFromSettings(settings: ResolvedSettings): AwsTarget {
  if (settings.mode === 'aws') {
    return { mode: 'aws', ...(settings.region ? { region: settings.region } : {}), names: settings.names };
  }
  const state = readStateFile(settings.stateFile);
  if (!state || !stackIsRunning(state)) {
    throw new ClickstreamError(
      'no local stack is running',
      'start it with `clickstream local up` in another terminal, or run `npm run demo` for the whole pipeline',
    );
  }
  const endpoints: LocalEndpoints = state.endpoints;
  return { mode: 'local', region: LOCAL_REGION, endpoints, names: state.names };
}
