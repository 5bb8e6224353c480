import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { DynamoTableSpec, KeyAttribute } from '../../core/dynamo-tables.ts';

export interface FunctionToTableProps {
  /** Key schema and TTL attribute, shared with the handlers and the local stack. */
  spec: DynamoTableSpec;
  writer: iam.IGrantable;
  /** Exactly the DynamoDB actions the writer calls. */
  actions: string[];
}

/** A Lambda function's DynamoDB table: on-demand, point-in-time recovery, TTL, encrypted at rest. */
export class FunctionToTable extends Construct {
  public readonly table: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: FunctionToTableProps) {
    super(scope, id);
    const [partition, sort] = props.spec.keys;
    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: attribute(partition),
      ...(sort ? { sortKey: attribute(sort) } : {}),
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(props.spec.ttlAttribute ? { timeToLiveAttribute: props.spec.ttlAttribute } : {}),
      // AWS-managed key: a customer key on TableV2 needs a concrete region (the stack is env-agnostic).
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.grant(props.writer, ...props.actions);
  }
}

function attribute(key: KeyAttribute): dynamodb.Attribute {
  const type = {
    S: dynamodb.AttributeType.STRING,
    N: dynamodb.AttributeType.NUMBER,
    B: dynamodb.AttributeType.BINARY,
  }[key.type];
  return { name: key.name, type };
}
