import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * DynamoDB capacity as on-demand tables bill it, counted on a client: every request asks DynamoDB for its
 * consumed capacity (ReturnConsumedCapacity TOTAL), which DynamoDB, and dynalite alike, compute from item
 * sizes: a write the larger of the item's sizes before and after in 1 KB units, a read 4 KB units (half for
 * eventually consistent reads). A write refused by its condition still bills; its answer carries no figure,
 * so it is charged the minimum, 1 unit. The same meter serves `--stats`, the run's summary and the bench.
 */
export interface CapacityTally {
  writeUnits: number;
  readUnits: number;
  requests: number;
}

const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand']);
const METERED = new Set([...WRITES, 'GetItemCommand', 'BatchGetItemCommand', 'QueryCommand', 'ScanCommand']);

interface Consumed {
  readonly CapacityUnits?: number;
  readonly ReadCapacityUnits?: number;
  readonly WriteCapacityUnits?: number;
}

export function newTally(): CapacityTally {
  return { writeUnits: 0, readUnits: 0, requests: 0 };
}

/** Installs the meter on a client; every request it sends from now on is charged to the tally returned. */
export function meterCapacity(client: DynamoDBClient, tally: CapacityTally = newTally()): CapacityTally {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? '';
      if (!METERED.has(command)) return next(args);
      tally.requests++;
      const input = args.input as { ReturnConsumedCapacity?: string };
      input.ReturnConsumedCapacity = 'TOTAL';
      const write = WRITES.has(command);
      const charge = (c: Consumed) => {
        const units = c.CapacityUnits ?? (write ? c.WriteCapacityUnits : c.ReadCapacityUnits) ?? 0;
        if (write) tally.writeUnits += units;
        else tally.readUnits += units;
      };
      try {
        const out = await next(args);
        const consumed = (out.output as { ConsumedCapacity?: Consumed | Consumed[] }).ConsumedCapacity;
        for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) charge(c);
        return out;
      } catch (error) {
        if (write && (error as { name?: string }).name === 'ConditionalCheckFailedException')
          charge({ CapacityUnits: 1 });
        throw error;
      }
    },
    // Before serialization (the document client has marshalled the input by then: its step runs first).
    { step: 'initialize', name: 'ipcountCapacityMeter', override: true },
  );
  return tally;
}
