/**
 * Names of the pipeline's resources, by the role each plays for the CLI. The CDK stack outputs its own
 * (generated) names (its `ClickstreamConfig` output); the CLI reads them from flags, env or the config
 * file. Locally, the resource that plays a role in the template gets the default name below.
 */
export interface ResourceNames {
  eventsStream: string;
  userActivityStream: string;
  userActivityTable: string;
  alertDedupeTable: string;
  rawBucket: string;
  lakeBucket: string;
  athenaResultsBucket: string;
  alertTopic: string;
  glueDatabase: string;
  athenaWorkgroup: string;
  /**
   * The window aggregator's on-failure queue (its URL in AWS): where Lambda parks the shard and
   * sequence range of a batch that exhausted its retries; `clickstream redrive --failure-queue` reads
   * it. The local stack has no SQS: its runner appends the same records to a file in its work dir.
   */
  aggregatorFailureQueue: string;
  /**
   * The bot alerter's on-failure queue (its URL in AWS): the ranges of the user-activity stream whose
   * batches exhausted their retries; `clickstream redrive --alerter-failure-queue` reads it. Locally a
   * file in the runner's work dir, as the aggregator's.
   */
  alerterFailureQueue: string;
}

export const DEFAULT_RESOURCE_NAMES: ResourceNames = {
  eventsStream: 'clickstream-events',
  userActivityStream: 'clickstream-user-activity',
  userActivityTable: 'clickstream-user-activity',
  alertDedupeTable: 'clickstream-alert-dedupe',
  rawBucket: 'clickstream-raw',
  lakeBucket: 'clickstream-lake',
  athenaResultsBucket: 'clickstream-athena-results',
  alertTopic: 'clickstream-bot-alerts',
  glueDatabase: 'clickstream',
  athenaWorkgroup: 'clickstream',
  aggregatorFailureQueue: 'clickstream-window-aggregator-failures',
  alerterFailureQueue: 'clickstream-bot-alerter-failures',
};

/**
 * Name prefix of the temporary queues `clickstream smoke` subscribes to the alert topic; the stack's
 * smoke policy grants queues of this prefix only.
 */
export const SMOKE_QUEUE_PREFIX = 'clickstream-smoke-';

/** The account id the local emulators put in ARNs (kinesalite's and the local SNS endpoint's). */
export const LOCAL_ACCOUNT_ID = '000000000000';

/** Longest name every local service accepts (S3 bucket names stop at 63 characters). */
const LOCAL_NAME_MAX = 63;

/**
 * The local physical name of a template resource that plays no ResourceNames role: its logical id
 * without the 8-hex-digit hash CDK appends, in kebab case, after the `clickstream-` prefix of the role
 * names (`BucketsAccessLogsA5F88218` → `clickstream-buckets-access-logs`). Deterministic, so a stack
 * started again from the same template has the same names; lower case, so it is a valid bucket name.
 */
export function localResourceName(logicalId: string): string {
  const readable = logicalId.replace(/^(.+?)[0-9A-F]{8}$/, '$1');
  const kebab = readable
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .toLowerCase();
  const name = `clickstream-${kebab}`.replace(/-+$/, '');
  if (name.length <= LOCAL_NAME_MAX) return name;
  // Too long for a bucket: keep the head and make it unique again with a short digest of the id.
  return `${name.slice(0, LOCAL_NAME_MAX - 9).replace(/-+$/, '')}-${fnv1a(logicalId)}`;
}

function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, '0');
}

/** `s3://bucket/key/with/slashes` → parts, or undefined when the text is not an S3 URL. */
export function parseS3Url(url: string): { bucket: string; key: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(url);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  return { bucket: m[1], key: m[2] };
}

/** The region the local stack reports and its ARNs carry (the emulators accept any). */
export const LOCAL_REGION = 'us-east-1';
