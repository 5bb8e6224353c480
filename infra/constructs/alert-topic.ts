import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

export interface AlertTopicProps {
  key: kms.IKey;
  displayName: string;
  /** Email subscribed to the topic; it must confirm the subscription from the email AWS sends. */
  email?: string;
}

/** An SNS topic that emails a person: used for bot alerts and for CloudWatch alarm notifications. */
export class AlertTopic extends Construct {
  public readonly topic: sns.Topic;
  public readonly subscription?: sns.Subscription;

  constructor(scope: Construct, id: string, props: AlertTopicProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: props.displayName,
      masterKey: props.key,
      enforceSSL: true,
    });
    if (props.email) {
      this.subscription = new sns.Subscription(this, 'Email', {
        topic: this.topic,
        protocol: sns.SubscriptionProtocol.EMAIL,
        endpoint: props.email,
      });
    }
  }
}
