import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * The customer-managed key of the SNS topics. A customer key, not aws/sns: CloudWatch alarms can only
 * publish to an encrypted topic whose key policy lets them, and AWS-managed key policies cannot change.
 */
export class PipelineKey extends Construct {
  public readonly key: kms.Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'Clickstream pipeline: SNS alert and alarm topics',
      enableKeyRotation: true,
      // A deleted key makes every record and message it encrypted unreadable: keep it, wait a month.
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });
  }
}
