import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface DataBucketsProps {
  lakeInfrequentAccessDays: number;
  athenaResultsExpirationDays: number;
  accessLogsExpirationDays: number;
}

/** The pipeline's S3 storage: raw CSV, the lake, Athena results, and the access logs of all three. */
export class DataBuckets extends Construct {
  public readonly accessLogs: s3.Bucket;
  public readonly raw: s3.Bucket;
  public readonly lake: s3.Bucket;
  public readonly athenaResults: s3.Bucket;

  constructor(scope: Construct, id: string, props: DataBucketsProps) {
    super(scope, id);
    const abortUploads: s3.LifecycleRule = {
      id: 'abort-incomplete-uploads',
      abortIncompleteMultipartUploadAfter: Duration.days(1),
    };
    // SSE-S3, not KMS: S3 server access logging cannot deliver to KMS-encrypted buckets, and Athena
    // readers of the lake then need no key grants.
    const secure = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    };
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...secure,
      // The logging service writes with ACL-less bucket-owner-enforced ownership into this bucket.
      lifecycleRules: [
        abortUploads,
        { id: 'expire-logs', expiration: Duration.days(props.accessLogsExpirationDays) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const logged = (prefix: string) => ({
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: `${prefix}/`,
    });
    this.raw = new s3.Bucket(this, 'Raw', {
      ...secure,
      ...logged('raw'),
      versioned: true,
      lifecycleRules: [
        abortUploads,
        // Source files are replaced, not edited; old versions only protect against accidents.
        { id: 'expire-old-versions', noncurrentVersionExpiration: Duration.days(30) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.lake = new s3.Bucket(this, 'Lake', {
      ...secure,
      ...logged('lake'),
      lifecycleRules: [
        abortUploads,
        // Old partitions are scanned rarely; Intelligent-Tiering moves them down without retrieval fees.
        {
          id: 'tier-old-partitions',
          transitions: [
            {
              storageClass: s3.StorageClass.INTELLIGENT_TIERING,
              transitionAfter: Duration.days(props.lakeInfrequentAccessDays),
            },
          ],
        },
        // Firehose error output is for diagnosis, not for querying.
        { id: 'expire-errors', prefix: 'errors/', expiration: Duration.days(30) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.athenaResults = new s3.Bucket(this, 'AthenaResults', {
      ...secure,
      ...logged('athena-results'),
      lifecycleRules: [
        abortUploads,
        // Query results are re-creatable by rerunning the query.
        { id: 'expire-results', expiration: Duration.days(props.athenaResultsExpirationDays) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
