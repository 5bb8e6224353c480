/**
 * Where AWS calls go: the embedded stack (endpoints set) or AWS (standard credential chain, region).
 * Commands resolve a target once; every part below them builds its clients from it here, so local and
 * AWS modes differ in this one place.
 */
import type { ResourceNames } from '../core/resources.ts';
import type { ClientOptions, LocalEndpoints } from './clients.ts';

export interface AwsTarget {
  mode: 'local' | 'aws';
  region?: string;
  /** Set in local mode: read from the local state file or from an in-process stack. */
  endpoints?: LocalEndpoints;
  names: ResourceNames;
}

export type AwsService = keyof LocalEndpoints;

/** Client options for one service of a target. */
export function clientOptions(
  target: AwsTarget,
  service: AwsService,
  extra: ClientOptions = {},
): ClientOptions {
  return {
    ...(target.region ? { region: target.region } : {}),
    ...(target.endpoints ? { endpoint: target.endpoints[service] } : {}),
    ...extra,
  };
}
