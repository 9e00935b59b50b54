import { Validations } from 'aws-cdk-lib';
import type { IpCountStack } from './ipcount-stack.js';

/**
 * The AwsSolutions findings IpCount accepts, each with its reason, on the one construct it concerns. Anything
 * else cdk-nag reports fails `cdk synth`.
 */
export function suppressAcceptedFindings(stack: IpCountStack): void {
  for (const fn of [stack.fold.function, stack.emit.function]) {
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions::AwsSolutions-L1',
      reason:
        'Pinned to Node.js 22 on purpose: the runtime the code is tested for (the design card); moving to a ' +
        'newer runtime is a deliberate, tested change, not an automatic one.',
    });
  }
  Validations.of(stack.fold.onFailure).acknowledge({
    id: 'AwsSolutions::AwsSolutions-SQS3',
    reason:
      "This queue is itself the dead-letter destination (the event source's on-failure destination); it is " +
      'alarmed on depth and keeps messages 14 days.',
  });
}
