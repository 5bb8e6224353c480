/**
 * What `clickstream smoke` needs to know about the stack under test: the resources' names, the alarm
 * topics, the metrics namespace and the settings that bound how long each check may wait. In AWS it is
 * read from the CloudFormation outputs of the deployed stack (infra/pipeline-stack.ts writes them);
 * locally from the running stack's names, with the timing the local stack was built with.
 */
import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { METRICS_NAMESPACE } from '../consumers/metrics.ts';
import { ClickstreamError } from '../core/errors.ts';
import { DEFAULT_RESOURCE_NAMES, type ResourceNames } from '../core/resources.ts';

/** The settings that tell how soon what was sent must show up downstream. */
export interface PipelineTiming {
  /** Event-time window of the per-user aggregates. */
  windowSeconds: number;
  /** Lambda tumbling window of the aggregator: a window's partials leave when it closes. */
  tumblingWindowSeconds: number;
  maxBatchingWindowSeconds: number;
  /** Firehose buffer interval: an object is written at most this long after its first record. */
  firehoseBufferingSeconds: number;
}

/** The CDK app's defaults (infra/config.ts); a local stack started with other `-c` values says so. */
export const DEFAULT_TIMING: PipelineTiming = {
  windowSeconds: 60,
  tumblingWindowSeconds: 60,
  maxBatchingWindowSeconds: 5,
  firehoseBufferingSeconds: 60,
};

export interface SmokeStack {
  /** Where the names came from: `stack Clickstream (outputs)` or `local stack`. */
  origin: string;
  names: ResourceNames;
  alarmTopicArns: string[];
  metricsNamespace: string;
  timing: PipelineTiming;
}

/** The outputs smoke cannot run without; the others have defaults. */
const REQUIRED_OUTPUTS = ['ClickstreamConfig'] as const;

/**
 * Reads the deployed stack's outputs. A stack that is missing, or one deployed before these outputs
 * existed, ends the run with one line and what to do.
 */
export async function readDeployedStack(cfn: CloudFormationClient, stackName: string): Promise<SmokeStack> {
  let outputs: Record<string, string>;
  try {
    const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = Object.fromEntries(
      (Stacks?.[0]?.Outputs ?? []).map((output) => [output.OutputKey ?? '', output.OutputValue ?? '']),
    );
  } catch (error) {
    // CloudFormation answers a stack that does not exist with a ValidationError naming it.
    if (error instanceof Error && error.name === 'ValidationError' && /does not exist/.test(error.message)) {
      throw new ClickstreamError(
        `stack ${stackName} not found`,
        'deploy it first (npx cdk deploy), or pass --stack NAME and --region of the deployed stack',
        { cause: error },
      );
    }
    throw error;
  }
  return stackFromOutputs(stackName, outputs);
}

/** The stack's outputs (OutputKey → value) as what smoke checks. */
export function stackFromOutputs(stackName: string, outputs: Record<string, string>): SmokeStack {
  const missing = REQUIRED_OUTPUTS.filter((key) => !outputs[key]);
  if (missing.length > 0) {
    throw new ClickstreamError(
      `stack ${stackName} has no output ${missing.join(', ')}`,
      'deploy the current CDK app (npx cdk deploy): its outputs name what smoke checks',
    );
  }
  let config: { names?: Partial<ResourceNames> };
  try {
    config = JSON.parse(outputs.ClickstreamConfig as string);
  } catch (error) {
    throw new ClickstreamError(
      `stack ${stackName}: output ClickstreamConfig is not JSON`,
      'deploy the current CDK app (npx cdk deploy)',
      { cause: error },
    );
  }
  const seconds = (key: string, fallback: number) => {
    const value = Number(outputs[key]);
    return outputs[key] !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
  };
  return {
    origin: `stack ${stackName} (CloudFormation outputs)`,
    names: { ...DEFAULT_RESOURCE_NAMES, ...config.names },
    alarmTopicArns: (outputs.AlarmTopicArns ?? '')
      .split(',')
      .map((arn) => arn.trim())
      .filter(Boolean),
    metricsNamespace: outputs.MetricsNamespace || METRICS_NAMESPACE,
    timing: {
      windowSeconds: seconds('WindowSeconds', DEFAULT_TIMING.windowSeconds),
      tumblingWindowSeconds: seconds('TumblingWindowSeconds', DEFAULT_TIMING.tumblingWindowSeconds),
      maxBatchingWindowSeconds: seconds('MaxBatchingWindowSeconds', DEFAULT_TIMING.maxBatchingWindowSeconds),
      firehoseBufferingSeconds: seconds('FirehoseBufferingSeconds', DEFAULT_TIMING.firehoseBufferingSeconds),
    },
  };
}

/** The local stack: its names, no alarm topics (no CloudWatch locally), and its timing. */
export function localStack(names: ResourceNames, timing: PipelineTiming): SmokeStack {
  return {
    origin: 'local stack',
    names,
    alarmTopicArns: [],
    metricsNamespace: METRICS_NAMESPACE,
    timing,
  };
}
