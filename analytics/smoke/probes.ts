/**
 * What each smoke step looks at, one read per call: the steps poll these until what was sent shows
 * up or their time is up. Each compares with the generated set only, so other traffic on the stack
 * neither passes nor fails a check.
 */
import { type CloudWatchClient, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { GetTopicAttributesCommand, type SNSClient } from '@aws-sdk/client-sns';
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { CUSTOM_METRICS, metricDimensions } from '../../consumers/metrics.ts';
import { totalsOfItems } from '../../consumers/user-activity-item.ts';
import type { UserWindowTotal } from '../../core/aggregate.ts';
import { USER_ACTIVITY_KEY } from '../../core/dynamo-tables.ts';
import { LAKE_LAYOUTS, type LakeLayout, partitionPrefix } from '../../core/lake.ts';
import type { QueryEngine } from '../engine.ts';
import { runNamedQuery } from '../named-queries.ts';
import { sameWindowTotal } from '../verify.ts';

export interface TotalsComparison {
  /** Events of the generated set counted in DynamoDB so far. */
  counted: number;
  /** Windows whose totals equal the source's. */
  equalWindows: number;
  /** The first window that differs, for the FAIL line. */
  firstDifference?: string;
}

/** The stored windows of the given users (base and overflow items merged), one Query per user. */
export async function storedTotals(
  dynamo: DynamoDBDocumentClient,
  table: string,
  userIds: readonly string[],
): Promise<UserWindowTotal[]> {
  const items: Array<Record<string, unknown>> = [];
  for (const userId of userIds) {
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await dynamo.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: '#user = :user',
          ExpressionAttributeNames: { '#user': USER_ACTIVITY_KEY.partition },
          ExpressionAttributeValues: { ':user': userId },
          ExclusiveStartKey,
        }),
      );
      items.push(...(page.Items ?? []));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  }
  return totalsOfItems(items);
}

/** Stored windows against the source's, keyed `user|window_start`. */
export function compareTotals(
  expected: ReadonlyMap<string, UserWindowTotal>,
  stored: readonly UserWindowTotal[],
): TotalsComparison {
  const byKey = new Map(stored.map((total) => [`${total.user_id}|${total.window_start}`, total]));
  let counted = 0;
  let equalWindows = 0;
  let firstDifference: string | undefined;
  for (const total of stored) counted += total.total_count;
  for (const [key, want] of expected) {
    const got = byKey.get(key);
    if (got && sameWindowTotal(got, want)) {
      equalWindows++;
    } else {
      firstDifference ??= `${key}: expected ${want.total_count} events, got ${got ? got.total_count : 'no window'}`;
    }
  }
  for (const key of byKey.keys()) {
    if (!expected.has(key)) firstDifference ??= `${key}: a window the source does not have`;
  }
  return { counted, equalWindows, ...(firstDifference ? { firstDifference } : {}) };
}

/** Objects of one lake table under `dt=<day>/` written since `sinceMs`. */
export async function newLakeObjects(
  s3: S3Client,
  bucket: string,
  layout: LakeLayout,
  day: string,
  sinceMs: number,
): Promise<number> {
  let count = 0;
  let ContinuationToken: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: partitionPrefix(layout, day), ContinuationToken }),
    );
    count += (page.Contents ?? []).filter(
      (object) => (object.LastModified?.getTime() ?? 0) >= sinceMs,
    ).length;
    ContinuationToken = page.NextContinuationToken;
  } while (ContinuationToken);
  return count;
}

export const LAKE_TABLES = [
  { table: 'events', layout: LAKE_LAYOUTS.events },
  { table: 'user_activity', layout: LAKE_LAYOUTS.user_activity },
] as const;

/** The users of the generated set that the `bot_suspects` named query returns. */
export async function suspectsAmong(
  engine: QueryEngine,
  userIds: ReadonlySet<string>,
  signal: AbortSignal,
): Promise<Set<string>> {
  const result = await runNamedQuery(engine, 'bot_suspects', {}, { signal });
  return new Set(result.rows.map((row) => String(row.user_id)).filter((user) => userIds.has(user)));
}

/** The custom metrics (name and dimensions, as the dashboard graphs them) that ListMetrics lists. */
export async function listedCustomMetrics(
  cloudwatch: CloudWatchClient,
  namespace: string,
): Promise<string[]> {
  const listed = new Set<string>();
  let NextToken: string | undefined;
  do {
    const page = await cloudwatch.send(new ListMetricsCommand({ Namespace: namespace, NextToken }));
    for (const metric of page.Metrics ?? []) {
      const dimensions = Object.fromEntries(
        (metric.Dimensions ?? []).map((dimension) => [dimension.Name, dimension.Value]),
      );
      listed.add(`${metric.MetricName} ${JSON.stringify(dimensions)}`);
    }
    NextToken = page.NextToken;
  } while (NextToken);
  return Object.values(CUSTOM_METRICS)
    .filter((metric) => listed.has(`${metric.name} ${JSON.stringify(metricDimensions(metric))}`))
    .map((metric) => metric.name);
}

interface PolicyStatement {
  Effect?: string;
  Principal?: string | { Service?: string | string[] };
  Action?: string | string[];
  Resource?: string | string[];
  Condition?: unknown;
}

/**
 * Whether a topic's policy lets CloudWatch alarms publish to it. A topic with a policy of its own
 * (the stack's enforce TLS) has no default policy any more, so an alarm can only publish through a
 * statement allowing the `cloudwatch.amazonaws.com` service `sns:Publish`
 * (https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns). The topic's KMS key must let
 * CloudWatch use it too (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services);
 * that key policy is not read here.
 */
export function letsCloudWatchPublish(policyText: string | undefined, topicArn: string): boolean {
  if (!policyText) return false;
  let statements: PolicyStatement[];
  try {
    const parsed = JSON.parse(policyText) as { Statement?: PolicyStatement | PolicyStatement[] };
    statements = [parsed.Statement ?? []].flat();
  } catch {
    return false;
  }
  const list = (value: string | string[] | undefined) => [value ?? []].flat();
  return statements.some((statement) => {
    const principal = statement.Principal;
    const services = typeof principal === 'object' ? list(principal.Service) : [];
    return (
      statement.Effect === 'Allow' &&
      services.includes('cloudwatch.amazonaws.com') &&
      list(statement.Action).some((action) => /^sns:(Publish|\*)$/i.test(action)) &&
      list(statement.Resource).some((resource) => resource === topicArn || resource === '*')
    );
  });
}

export async function topicPolicy(sns: SNSClient, topicArn: string): Promise<string | undefined> {
  const { Attributes } = await sns.send(new GetTopicAttributesCommand({ TopicArn: topicArn }));
  return Attributes?.Policy;
}
