import { Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ALERT_BUS_ENV } from '../../functions/config.js';
import { ALERT_EVENT } from '../../shared/alert.js';
import type { IpCountFunction } from './ipcount-function.js';

export interface AlertEventsProps {
  /** The emitter, which raises alerts (settings.alertThreshold) and puts them on the bus. */
  readonly emit: IpCountFunction;
  /** Alerts are forwarded here too, so whoever gets the alarms gets them. */
  readonly topic: sns.ITopic;
  readonly topicKey: kms.IKey;
}

/**
 * Alerts on AWS: the emitter puts each one on the account's default event bus (source `ipcount`, detail type
 * `IpCount alert`, detail with the IP, window and count), where a user's own rule can feed a WAF IP set or a
 * pager; a rule of the stack forwards them to the alarm topic.
 */
export class AlertEvents extends Construct {
  readonly bus: events.IEventBus;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: AlertEventsProps) {
    super(scope, id);
    this.bus = events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    this.bus.grantPutEventsTo(props.emit);
    props.emit.addEnvironment(ALERT_BUS_ENV, this.bus.eventBusName);

    this.rule = new events.Rule(this, 'ToAlarmTopic', {
      description: 'IpCount alerts (an IP over the threshold in a window) to the alarm topic',
      eventBus: this.bus,
      eventPattern: { source: [ALERT_EVENT.source], detailType: [ALERT_EVENT.detailType] },
      targets: [new targets.SnsTopic(props.topic)],
    });
    // The topic is under its own key: EventBridge may use it for this account's rules (the rule's own ARN
    // would make the key depend on the rule, which depends on the topic, which depends on the key).
    const stack = Stack.of(this);
    props.topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'IpCountAlertsPublish',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({ service: 'events', resource: 'rule', resourceName: '*' }),
          },
        },
      }),
    );
  }
}
