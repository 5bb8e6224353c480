/** Reading LAMBDA_ENV values in a handler module, with errors that name the variable. */
import { ConsumerError } from './errors.ts';

export type Env = Record<string, string | undefined>;

export function requiredEnv(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '')
    throw new ConsumerError(`environment variable ${name} is not set`);
  return value;
}

export function optionalPositiveInt(env: Env, name: string): number | undefined {
  const value = env[name];
  if (value === undefined || value.trim() === '') return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) {
    throw new ConsumerError(
      `environment variable ${name} must be a positive integer, got ${JSON.stringify(value)}`,
    );
  }
  return parsed;
}
