/**
 * The options and the summary of `clickstream local up|down|status` (cli/commands/local.ts), apart from
 * it so that its `up` action (local-up.ts), which the command loads only to start a stack, and the
 * command do not import each other.
 */
import type { LocalStackState } from './config.ts';
import type { TemplateFlags } from './stack-template.ts';

export type Action = 'up' | 'down' | 'status';

export interface LocalOptions extends TemplateFlags {
  args: [string?];
  ports?: string;
  /** `--no-consumers`: emulators only. */
  consumers?: boolean;
  /** `--chaos <profile>`: fault injection (local/chaos.ts). */
  chaos?: string;
  /** `--no-limits`: kinesalite without the Kinesis shard limits. */
  limits?: boolean;
  local?: boolean;
  region?: string;
  config?: string;
}

export interface LocalSummary {
  action: Action;
  running: boolean;
  pid?: number;
  endpoints?: LocalStackState['endpoints'];
  mailUrl?: string;
  stateFile: string;
  uptimeSeconds?: number;
  /** The processes the stack started, beside the `local up` process itself. */
  processes?: Array<{ role: string; pid: number }>;
  /** What a stack that did not stop left behind: still running, or (up, down) stopped now. */
  leftovers?: string[];
  /** up: the emulators start empty; nothing of an earlier stack is kept. */
  data?: 'fresh';
  /** status: whether the Kinesis shard limits are enforced, and what they refused per stream so far. */
  kinesisLimits?: boolean;
  throttles?: LocalStackState['throttles'];
  /** status: where the consumers stood when `local up` last noted it. */
  pipeline?: LocalStackState['pipeline'];
}
