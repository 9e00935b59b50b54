import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { type PipelineSettings, pickSettings, resolveSettings } from '../../shared/settings.js';
import { type AwsTarget, createCloudFormationClient } from '../../shared/store/clients.js';
import { type ResourceNames, resourceNames, STACK_OUTPUTS } from '../../shared/tables.js';

/**
 * Where a deployment's stream and tables are: named by a prefix (the local runtime, or a stack deployed with
 * that prefix), or looked up from a CloudFormation stack's outputs at the target (AWS, LocalStack, or the
 * embedded edge of `ipcount run --serve`).
 */
export type DeploymentRef = { readonly stack: string } | { readonly prefix: string };

export async function stackOutputs(target: AwsTarget, stackName: string): Promise<Record<string, string>> {
  const client = createCloudFormationClient(target);
  try {
    const out = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    const [stack] = out.Stacks ?? [];
    if (!stack) throw new Error(`stack ${stackName} not found`);
    return Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  } catch (error) {
    const message = (error as Error).message;
    throw new Error(`cannot read the outputs of stack ${stackName}: ${message}`);
  } finally {
    client.destroy();
  }
}

/** Each resource's name and the output key it is published under. */
const NAMED_OUTPUTS = (['stream', 'windows', 'shardState', 'deadLetters'] as const).map(
  (name) => [name, STACK_OUTPUTS[name]] as const,
);

/** The resource names a stack's outputs give. */
export function namesFromOutputs(outputs: Record<string, string>, stack: string): ResourceNames {
  const need = (key: string) => {
    const value = outputs[key];
    if (!value) throw new Error(`stack ${stack} has no output ${key}: is it an IpCount stack?`);
    return value;
  };
  return Object.fromEntries(
    NAMED_OUTPUTS.map(([name, key]) => [name, need(key)]),
  ) as unknown as ResourceNames;
}

export async function resolveDeployment(ref: DeploymentRef, target: AwsTarget): Promise<ResourceNames> {
  if ('prefix' in ref) return resourceNames(ref.prefix);
  return namesFromOutputs(await stackOutputs(target, ref.stack), ref.stack);
}

/** The outputs a stack deployed with `prefix` has, for the embedded edge to answer DescribeStacks with. */
export function localStackOutputs(prefix: string, settings: PipelineSettings): Record<string, string> {
  const names = resourceNames(prefix);
  return {
    ...Object.fromEntries(NAMED_OUTPUTS.map(([name, key]) => [key, names[name]])),
    [STACK_OUTPUTS.windowSeconds]: String(settings.windowSeconds),
    [STACK_OUTPUTS.timeZone]: settings.timeZone,
    [STACK_OUTPUTS.settings]: JSON.stringify(settings),
  };
}

/** The settings a stack publishes (every setting, as its functions run with), or undefined (an older stack). */
export function settingsFromOutputs(outputs: Record<string, string>): PipelineSettings | undefined {
  const text = outputs[STACK_OUTPUTS.settings];
  if (!text) return undefined;
  return resolveSettings(pickSettings(JSON.parse(text) as Record<string, unknown>));
}
