import * as athena from 'aws-cdk-lib/aws-athena';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface NamedQueryDefinition {
  name: string;
  description: string;
  sql: string;
}

export interface AthenaQueriesProps {
  workGroupName: string;
  databaseName: string;
  resultsBucket: s3.IBucket;
  /** Per-query scan cutoff in bytes (Athena: ≥ 10 MB). */
  bytesScannedCutoff: number;
  queries: NamedQueryDefinition[];
}

/** An Athena workgroup that pins where results go and how much a query may scan, plus the named queries. */
export class AthenaQueries extends Construct {
  public readonly workGroup: athena.CfnWorkGroup;
  public readonly namedQueries: athena.CfnNamedQuery[];

  constructor(scope: Construct, id: string, props: AthenaQueriesProps) {
    super(scope, id);
    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: props.workGroupName,
      description: 'Clickstream lake queries',
      // Saved queries and history go with the stack on `cdk destroy`.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        // Clients cannot redirect results elsewhere or turn encryption off.
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoff,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${props.resultsBucket.bucketName}/results/`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });
    this.namedQueries = props.queries.map(
      (query) =>
        new athena.CfnNamedQuery(this, `Query-${query.name}`, {
          name: query.name,
          description: query.description,
          database: props.databaseName,
          queryString: query.sql,
          // A Ref, so CloudFormation creates the workgroup first.
          workGroup: this.workGroup.ref,
        }),
    );
  }
}
