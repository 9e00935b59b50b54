import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../../shared/metric-names.js';
import type { TableDefinition } from '../../shared/tables.js';

/** DynamoDB actions a function may be granted: the ones the stores in shared/store/ send. */
export type TableAction =
  | 'GetItem'
  | 'BatchGetItem'
  | 'UpdateItem'
  | 'PutItem'
  | 'DeleteItem'
  | 'Query'
  | 'BatchWriteItem';

export interface IpCountFunctionProps {
  /** Entry file under functions/, e.g. 'fold.ts'. */
  readonly entry: string;
  readonly description: string;
  /** Powertools service name (logs and the metrics dimension). */
  readonly serviceName: string;
  /** Namespace of the function's CloudWatch metrics. @default METRICS_NAMESPACE */
  readonly metricsNamespace?: string;
  /** @default Duration.seconds(60) */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  readonly environment?: Record<string, string>;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default no reservation */
  readonly reservedConcurrentExecutions?: number;
}

const FUNCTIONS_DIR = fileURLToPath(new URL('../../functions/', import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * An IpCount Lambda function: Node 22 on ARM64, bundled by the locally installed esbuild (no Docker), source
 * maps on, its own log group with a retention, and its own role that starts with nothing but writing to that
 * log group. Every other permission comes from `bindTable` / explicit grants, so the policy lists exactly
 * what the code calls.
 */
export class IpCountFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: IpCountFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (execution role)`,
    });
    super(scope, id, {
      entry: `${FUNCTIONS_DIR}${props.entry}`,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(60),
      role,
      logGroup,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace ?? METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.CJS,
        target: 'node22',
        sourceMap: true,
        minify: true,
        forceDockerBundling: false,
        // Bundle the AWS SDK too (not the runtime's copy): the clients, their @smithy parts and the code are
        // the versions the tests ran.
        externalModules: [],
      },
    });
    logGroup.grantWrite(role);
  }

  /**
   * Passes the table's name in its env var and grants exactly `actions` on the table, plus `indexActions` on
   * one of its indexes (a Query on an index is authorised against the index's ARN, not the table's).
   */
  bindTable(
    definition: TableDefinition,
    table: dynamodb.ITable,
    actions: readonly TableAction[],
    index?: { readonly name: string; readonly actions: readonly TableAction[] },
  ): void {
    this.addEnvironment(definition.envVar, table.tableName);
    const statement = (resources: string[], granted: readonly TableAction[]) =>
      new iam.PolicyStatement({ actions: granted.map((a) => `dynamodb:${a}`), resources });
    if (actions.length > 0) this.addToRolePolicy(statement([table.tableArn], actions));
    if (index === undefined) return;
    if (!definition.indexes.some((i) => i.name === index.name))
      throw new Error(`table ${definition.id} has no index ${index.name}`);
    const indexArn = Stack.of(this).formatArn({
      service: 'dynamodb',
      resource: 'table',
      resourceName: `${table.tableName}/index/${index.name}`,
    });
    this.addToRolePolicy(statement([indexArn], index.actions));
  }
}
