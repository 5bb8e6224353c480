/**
 * ARNs of the resources the pipeline touches, built the way each service documents them, so that an
 * ARN derived from an SDK call's input and one derived from a CloudFormation template compare equal.
 */

/** Where a call runs: the partition, region and account its ARNs name. */
export interface AwsEnvironment {
  partition: string;
  region: string;
  account: string;
}

export const arns = {
  // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonkinesisdatastreams.html
  kinesisStream: (env: AwsEnvironment, name: string) =>
    `arn:${env.partition}:kinesis:${env.region}:${env.account}:stream/${name}`,
  // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html
  dynamoTable: (env: AwsEnvironment, name: string) =>
    `arn:${env.partition}:dynamodb:${env.region}:${env.account}:table/${name}`,
  dynamoIndex: (env: AwsEnvironment, table: string, index: string) =>
    `arn:${env.partition}:dynamodb:${env.region}:${env.account}:table/${table}/index/${index}`,
  // S3 ARNs carry neither region nor account:
  // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
  s3Bucket: (env: AwsEnvironment, bucket: string) => `arn:${env.partition}:s3:::${bucket}`,
  s3Object: (env: AwsEnvironment, bucket: string, key: string) =>
    `arn:${env.partition}:s3:::${bucket}/${key}`,
  snsTopic: (env: AwsEnvironment, name: string) =>
    `arn:${env.partition}:sns:${env.region}:${env.account}:${name}`,
  sqsQueue: (env: AwsEnvironment, name: string) =>
    `arn:${env.partition}:sqs:${env.region}:${env.account}:${name}`,
  kmsKey: (env: AwsEnvironment, keyId: string) =>
    `arn:${env.partition}:kms:${env.region}:${env.account}:key/${keyId}`,
  // https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html
  glueCatalog: (env: AwsEnvironment) => `arn:${env.partition}:glue:${env.region}:${env.account}:catalog`,
  glueDatabase: (env: AwsEnvironment, database: string) =>
    `arn:${env.partition}:glue:${env.region}:${env.account}:database/${database}`,
  glueTable: (env: AwsEnvironment, database: string, table: string) =>
    `arn:${env.partition}:glue:${env.region}:${env.account}:table/${database}/${table}`,
  // https://docs.aws.amazon.com/athena/latest/ug/workgroups-access.html
  athenaWorkgroup: (env: AwsEnvironment, name: string) =>
    `arn:${env.partition}:athena:${env.region}:${env.account}:workgroup/${name}`,
  // The Arn attribute of AWS::Logs::LogGroup ends in `:*` (the group's streams).
  logGroup: (env: AwsEnvironment, name: string) =>
    `arn:${env.partition}:logs:${env.region}:${env.account}:log-group:${name}:*`,
  // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html
  cloudwatchAlarm: (env: AwsEnvironment, name: string) =>
    `arn:${env.partition}:cloudwatch:${env.region}:${env.account}:alarm:${name}`,
  lambdaFunction: (env: AwsEnvironment, name: string) =>
    `arn:${env.partition}:lambda:${env.region}:${env.account}:function:${name}`,
  firehose: (env: AwsEnvironment, name: string) =>
    `arn:${env.partition}:firehose:${env.region}:${env.account}:deliverystream/${name}`,
  iamRole: (env: AwsEnvironment, name: string, path = '/') =>
    `arn:${env.partition}:iam::${env.account}:role${path}${name}`,
  iamPolicy: (env: AwsEnvironment, name: string, path = '/') =>
    `arn:${env.partition}:iam::${env.account}:policy${path}${name}`,
  accountRoot: (env: AwsEnvironment) => `arn:${env.partition}:iam::${env.account}:root`,
  /** The identity a function's code runs as: its role, in a session named after the function. */
  assumedRole: (env: AwsEnvironment, role: string, session: string) =>
    `arn:${env.partition}:sts::${env.account}:assumed-role/${role}/${session}`,
};

/** `s3://bucket/prefix/` → bucket and key prefix. */
export function parseS3Location(location: string): { bucket: string; prefix: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(location);
  if (!match || match[1] === undefined) return undefined;
  return { bucket: match[1], prefix: match[2] ?? '' };
}
