/**
 * The chaos profiles by name, what each does, and when `local up --chaos` triggers them: the part of
 * local/chaos.ts that the CLI needs for its help and checks, kept apart from the injectors so that
 * `local status` and `local down` load no emulator code.
 */

export const CHAOS_PROFILES = [
  'kinesis-throttle',
  'handler-faults',
  'dynamodb-transient',
  'smtp-outage',
  'emulator-restart',
  'producer-kill',
] as const;
export type ChaosProfileName = (typeof CHAOS_PROFILES)[number];

/**
 * Handler faults: counts of invocations, so the same run fails the same invocations. The timeout is
 * generous because a window's final invocation merges hundreds of partials at the emulator's pace, and
 * a real timeout there only piles zombie flushes onto the emulator: the retry runs beside the work of
 * the invocation that timed out and puts its partials again for the alerter, so on a loaded machine
 * one real timeout led to the next until the test ran out of time. A final flush of 1,019 partials
 * (2 events shards, the deployed default) took 13-15 s at a load of 12-14 on 2 cores, past the 8 s this
 * was; 20 s leaves room. Each injected hang costs that long.
 */
export const HANDLER_FAULTS = {
  throwEvery: 5,
  timeoutEvery: 7,
  functionTimeoutMs: 20_000,
  maxFaults: 8,
  maxTimeouts: 2,
};

/** When `local up --chaos` breaks things: often enough to see within a minute, apart enough to recover. */
export const CHAOS_SCHEDULE = {
  smtp: { upMs: 40_000, downMs: 20_000 },
  dynamoRestartEveryMs: 30_000,
};

export const CHAOS_DESCRIPTIONS: Record<ChaosProfileName, string> = {
  'kinesis-throttle': 'every 5th PutRecords entry throttled, every 10th call answered 5xx',
  'handler-faults': `every ${HANDLER_FAULTS.throwEvery}th invocation throws, every ${HANDLER_FAULTS.timeoutEvery}th hangs past the ${HANDLER_FAULTS.functionTimeoutMs / 1000} s function timeout (twice)`,
  'dynamodb-transient':
    'every 10th merge and every 3rd alert-claim write fail with 500 or throughput exceeded, half of them after writing',
  'smtp-outage': `the mail host refuses connections (tests choose when; \`local up\`: ${CHAOS_SCHEDULE.smtp.downMs / 1000} s of every ${(CHAOS_SCHEDULE.smtp.upMs + CHAOS_SCHEDULE.smtp.downMs) / 1000} s)`,
  'emulator-restart': `DynamoDB killed and restarted on its SQLite file (tests choose when; \`local up\`: every ${CHAOS_SCHEDULE.dynamoRestartEveryMs / 1000} s)`,
  'producer-kill':
    'the producer is killed mid-run and resumed from its checkpoint (tests; by hand: kill -9 a replay, run it again)',
};

export function isChaosProfile(value: string): value is ChaosProfileName {
  return (CHAOS_PROFILES as readonly string[]).includes(value);
}
