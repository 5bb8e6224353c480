import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { Construct } from 'constructs';
import type { StreamMode } from '../config.ts';

export interface EventStreamsProps {
  mode: StreamMode;
  eventsShards: number;
  userActivityShards: number;
  retention: Duration;
}

/** The two Kinesis streams: raw events (keyed by category) and per-user window partials (keyed by user). */
export class EventStreams extends Construct {
  public readonly events: kinesis.Stream;
  public readonly userActivity: kinesis.Stream;

  constructor(scope: Construct, id: string, props: EventStreamsProps) {
    super(scope, id);
    const common = {
      // The AWS-managed aws/kinesis key: producers (the CLI's credentials), Lambda and Firehose need no
      // key grants, and there is no per-key charge scaling with consumers (cdk-nag KDS3).
      encryption: kinesis.StreamEncryption.MANAGED,
      retentionPeriod: props.retention,
      streamMode: props.mode === 'on-demand' ? kinesis.StreamMode.ON_DEMAND : kinesis.StreamMode.PROVISIONED,
      // Streams hold at most a few days of replayable data; the lake keeps the history.
      removalPolicy: RemovalPolicy.DESTROY,
    };
    this.events = new kinesis.Stream(this, 'Events', {
      ...common,
      ...(props.mode === 'provisioned' ? { shardCount: props.eventsShards } : {}),
    });
    this.userActivity = new kinesis.Stream(this, 'UserActivity', {
      ...common,
      ...(props.mode === 'provisioned' ? { shardCount: props.userActivityShards } : {}),
    });
  }
}
