import type { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import type { KeyAttribute, TableDefinition } from '../../shared/tables.js';

export interface DefinedTableProps {
  /** Keys, indexes and TTL attribute: the definition the local runtime creates its tables from. */
  readonly definition: TableDefinition;
  readonly tableName: string;
  /** @default RemovalPolicy.RETAIN (set by the stack) */
  readonly removalPolicy: RemovalPolicy;
}

const attribute = (key: KeyAttribute): dynamodb.Attribute => ({
  name: key.name,
  type: key.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER,
});

const projection: Record<'KEYS_ONLY' | 'ALL', dynamodb.ProjectionType> = {
  KEYS_ONLY: dynamodb.ProjectionType.KEYS_ONLY,
  ALL: dynamodb.ProjectionType.ALL,
};

/** A DynamoDB table synthesized from a shared definition: on-demand, point-in-time recovery, TTL where defined. */
export class DefinedTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: DefinedTableProps) {
    super(scope, id);
    const { definition } = props;
    this.table = new dynamodb.Table(this, 'Table', {
      tableName: props.tableName,
      partitionKey: attribute(definition.partitionKey),
      ...(definition.sortKey ? { sortKey: attribute(definition.sortKey) } : {}),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(definition.ttlAttribute ? { timeToLiveAttribute: definition.ttlAttribute } : {}),
      removalPolicy: props.removalPolicy,
    });
    for (const index of definition.indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: attribute(index.partitionKey),
        ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
        projectionType: projection[index.projection],
      });
    }
  }
}
