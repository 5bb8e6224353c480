/**
 * Environment variable names the Lambda handlers read. The CDK stack sets them from typed props; the
 * local pipeline passes each handler its function's environment from the synthesized template.
 */
export const LAMBDA_ENV = {
  userActivityTable: 'CLICKSTREAM_USER_ACTIVITY_TABLE',
  userActivityStream: 'CLICKSTREAM_USER_ACTIVITY_STREAM',
  windowSeconds: 'CLICKSTREAM_WINDOW_SECONDS',
  alertTopicArn: 'CLICKSTREAM_ALERT_TOPIC_ARN',
  alertDedupeTable: 'CLICKSTREAM_ALERT_DEDUPE_TABLE',
  /** JSON array of alert rules (core/rules.ts); absent = the defaults. */
  alertRules: 'CLICKSTREAM_ALERT_RULES',
  athenaWorkgroup: 'CLICKSTREAM_ATHENA_WORKGROUP',
  glueDatabase: 'CLICKSTREAM_GLUE_DATABASE',
  /** Days to keep user-activity items (DynamoDB TTL). */
  ttlDays: 'CLICKSTREAM_TTL_DAYS',
  /**
   * S3 bucket where the window aggregator writes malformed records (prefix `dead-letter/`); absent =
   * they go to the function's log at error level.
   */
  deadLetterBucket: 'CLICKSTREAM_DEAD_LETTER_BUCKET',
} as const;
