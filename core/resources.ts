/**
 * Names of the pipeline's resources. The local stack creates exactly these; the CDK stack outputs its
 * own (generated) names and the CLI reads them from flags, env or the config file.
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
};

/** `s3://bucket/key/with/slashes` → parts, or undefined when the text is not an S3 URL. */
export function parseS3Url(url: string): { bucket: string; key: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(url);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  return { bucket: m[1], key: m[2] };
}
