import { App, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { IpCountStack } from '../lib/ipcount-stack.js';

/** Settings come from cdk.json context, overridable with `cdk deploy -c ipcount:shards=8`. */
const app = new App();
const context = (key: string) => app.node.tryGetContext(`ipcount:${key}`);
const shards = context('shards');
const shardCount = shards === 'on-demand' ? undefined : Number(shards ?? 4);
if (shardCount !== undefined && !(Number.isInteger(shardCount) && shardCount >= 1)) {
  throw new Error(`ipcount:shards must be a whole number ≥ 1 or "on-demand", got ${shards}`);
}

new IpCountStack(app, 'IpCount', {
  prefix: context('prefix') ?? 'ipcount',
  shardCount,
  streamRetention: Duration.hours(Number(context('retentionHours') ?? 24)),
  removalPolicy: context('removalPolicy') === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
