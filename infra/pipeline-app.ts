import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromNode } from './config.ts';
import { PipelineStack } from './pipeline-stack.ts';

/**
 * The app as `cdk synth` builds it and as the tests synthesize it: config from context, one
 * env-agnostic stack (no lookups, so synth runs offline), cdk-nag AwsSolutions on every synth.
 */
export function buildApp(props: AppProps = {}): { app: App; stack: PipelineStack } {
  const app = new App(props);
  const stack = new PipelineStack(app, app.node.tryGetContext('stackName') ?? 'Clickstream', {
    description:
      'Real-time clickstream analytics: Kinesis, Lambda tumbling windows, DynamoDB, SNS, Firehose, Glue, Athena',
    config: configFromNode(app.node),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
