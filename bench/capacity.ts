import { createHash } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { type AttributeValue, DynamoDBClient, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { RecordAggregator } from 'aws-kinesis-agg';
import { emitDependencies, foldDependencies } from '../functions/config.js';
import { createFoldHandler } from '../functions/fold-handler.js';
import { localContext } from '../local/lambda/lambda-context.js';
import { emitDueWindows } from '../shared/emit-due-windows.js';
import { documentClient } from '../shared/store/clients.js';
import { TABLES, type TableDefinition, tableName } from '../shared/tables.js';
import { recordsEvent } from '../test/helpers/records.js';
import { startTestStack } from '../test/helpers/stack.js';

/**
 * What the pipeline pays DynamoDB per line, measured, not modelled: every request the fold and the emitter
 * send is seen by a middleware, which reads the item before and after each write (with a client of its own,
 * not counted) and charges it as DynamoDB bills on-demand tables:
 * - a write: the larger of the item's old and new size, in 1 KB units, at least 1 (a failed condition too);
 * - each global secondary index of the table (as shared/tables.ts defines it): a put, a delete, both when an
 *   index key changed, or an update when a projected attribute changed; an entry's size is its projected
 *   attributes plus 100 bytes;
 * - a read: 4 KB units of the items returned, summed per request, half for eventually consistent reads.
 * This file uses only what every version of the pipeline has (the functions' wiring, the test stack), so the
 * bench can run it against the previous commit's code too.
 */

/** DynamoDB's item size: attribute names plus values (numbers about 1 byte per 2 digits, plus 1). */
export function attributeSize(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return Math.ceil(value.N.replace(/^-|\.|^0+/g, '').length / 2) + 1;
  if (value.B !== undefined) return value.B.length;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS) return value.SS.reduce((s, v) => s + Buffer.byteLength(v), 0);
  if (value.NS) return value.NS.reduce((s, v) => s + Math.ceil(v.length / 2) + 1, 0);
  if (value.L) return 3 + value.L.reduce((s, v) => s + 1 + attributeSize(v), 0);
  if (value.M) return 3 + itemSize(value.M);
  return 0;
}

export function itemSize(item: Record<string, AttributeValue> | undefined): number {
  if (!item) return 0;
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += Buffer.byteLength(name) + attributeSize(value);
  return size;
}

export interface CapacityTally {
  writeUnits: number;
  indexWriteUnits: number;
  readUnits: number;
  requests: number;
  /** Write units by table id (indexes included). */
  byTable: Record<string, number>;
}

const same = (a: AttributeValue | undefined, b: AttributeValue | undefined) =>
  JSON.stringify(a) === JSON.stringify(b);

function indexWrites(
  table: TableDefinition,
  before: Record<string, AttributeValue> | undefined,
  after: Record<string, AttributeValue> | undefined,
): number {
  let units = 0;
  const keyNames = [table.partitionKey.name, table.sortKey?.name].filter((n): n is string => !!n);
  for (const index of table.indexes) {
    const keys = [index.partitionKey.name, index.sortKey?.name].filter((n): n is string => !!n);
    const inIndex = (item?: Record<string, AttributeValue>) => !!item && keys.every((k) => item[k]);
    const entry = (item: Record<string, AttributeValue>) => {
      const names = index.projection === 'ALL' ? Object.keys(item) : [...keyNames, ...keys];
      return Object.fromEntries(names.filter((n) => item[n]).map((n) => [n, item[n] as AttributeValue]));
    };
    const size = (item: Record<string, AttributeValue>) =>
      Math.max(1, Math.ceil((itemSize(entry(item)) + 100) / 1024));
    const was = inIndex(before) ? entry(before as Record<string, AttributeValue>) : undefined;
    const is = inIndex(after) ? entry(after as Record<string, AttributeValue>) : undefined;
    if (!was && !is) continue;
    if (!was) units += size(after as Record<string, AttributeValue>);
    else if (!is) units += size(before as Record<string, AttributeValue>);
    else if (keys.some((k) => !same(was[k], is[k])))
      units += size(before as Record<string, AttributeValue>) + size(after as Record<string, AttributeValue>);
    else if (JSON.stringify(was) !== JSON.stringify(is))
      units += size(after as Record<string, AttributeValue>);
  }
  return units;
}

/** Attaches the meter to a client: every request it sends from now on is charged to the tally. */
export function meter(
  client: DynamoDBClient,
  endpoint: DynamoDBClient['config'],
  prefix: string,
): CapacityTally {
  const tally: CapacityTally = { writeUnits: 0, indexWriteUnits: 0, readUnits: 0, requests: 0, byTable: {} };
  const raw = new DynamoDBClient(endpoint as never);
  const byName = new Map(TABLES.map((t) => [tableName(prefix, t), t]));
  const keyOf = (table: TableDefinition, item: Record<string, AttributeValue>) =>
    Object.fromEntries(
      [table.partitionKey.name, table.sortKey?.name]
        .filter((n): n is string => !!n)
        .map((n) => [n, item[n] as AttributeValue]),
    );
  // Images this meter last saw, so only an update's new image (and an unseen item's old one) is read back.
  const seen = new Map<string, Record<string, AttributeValue> | undefined>();
  const id = (name: string, key: Record<string, AttributeValue>) => `${name} ${JSON.stringify(key)}`;
  const image = async (name: string, key: Record<string, AttributeValue>) => {
    const known = seen.get(id(name, key));
    if (known !== undefined || seen.has(id(name, key))) return known;
    return (await raw.send(new GetItemCommand({ TableName: name, Key: key, ConsistentRead: true }))).Item;
  };
  const reread = async (name: string, key: Record<string, AttributeValue>) =>
    (await raw.send(new GetItemCommand({ TableName: name, Key: key, ConsistentRead: true }))).Item;
  const charge = (name: string, units: number, index: number) => {
    const id = byName.get(name)?.id ?? name;
    tally.writeUnits += units;
    tally.indexWriteUnits += index;
    tally.byTable[id] = (tally.byTable[id] ?? 0) + units + index;
  };
  /** `written`: what each key holds after the request when the request says so (a put, a delete). */
  const writes = async (
    name: string,
    keys: Record<string, AttributeValue>[],
    send: () => Promise<unknown>,
    written?: (Record<string, AttributeValue> | undefined)[],
  ) => {
    const table = byName.get(name);
    if (!table) return send();
    const before = await Promise.all(keys.map((k) => image(name, k)));
    let output: unknown;
    try {
      output = await send();
    } finally {
      const after = written ?? (await Promise.all(keys.map((k) => reread(name, k))));
      keys.forEach((k, i) => {
        seen.set(id(name, k), after[i]);
        const units = Math.max(1, Math.ceil(Math.max(itemSize(before[i]), itemSize(after[i])) / 1024));
        charge(name, units, indexWrites(table, before[i], after[i]));
      });
    }
    return output;
  };
  const reads = (items: readonly Record<string, AttributeValue>[] | undefined, consistent: boolean) => {
    const bytes = (items ?? []).reduce((s, item) => s + itemSize(item), 0);
    tally.readUnits += Math.max(1, Math.ceil(bytes / 4096)) * (consistent ? 1 : 0.5);
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      tally.requests++;
      // biome-ignore lint/suspicious/noExplicitAny: the low-level input of whichever command this is
      const input = args.input as any;
      const command = context.commandName ?? '';
      if (command === 'UpdateItemCommand' || command === 'DeleteItemCommand')
        return (await writes(input.TableName, [input.Key], () => next(args))) as never;
      if (command === 'PutItemCommand' && !input.ConditionExpression) {
        const table = byName.get(input.TableName);
        return (await writes(input.TableName, table ? [keyOf(table, input.Item)] : [], () => next(args), [
          input.Item,
        ])) as never;
      }
      if (command === 'PutItemCommand') {
        const table = byName.get(input.TableName);
        return (await writes(input.TableName, table ? [keyOf(table, input.Item)] : [], () =>
          next(args),
        )) as never;
      }
      if (command === 'BatchWriteItemCommand') {
        const [name, requests] = (Object.entries(input.RequestItems) as [string, never[]][])[0] ?? ['', []];
        const table = byName.get(name);
        const keys = (requests as { PutRequest?: { Item: never }; DeleteRequest?: { Key: never } }[]).map(
          (r) =>
            r.PutRequest ? (table ? keyOf(table, r.PutRequest.Item) : {}) : (r.DeleteRequest?.Key ?? {}),
        );
        return (await writes(name, keys, () => next(args))) as never;
      }
      const out = await next(args);
      // biome-ignore lint/suspicious/noExplicitAny: the low-level output of a read
      const o = out.output as any;
      if (command === 'GetItemCommand') reads(o.Item ? [o.Item] : [], input.ConsistentRead === true);
      else if (command === 'BatchGetItemCommand')
        for (const items of Object.values(o.Responses ?? {}) as Record<string, AttributeValue>[][])
          for (const item of items) reads([item], true);
      else if (command === 'QueryCommand' || command === 'ScanCommand')
        reads(o.Items, input.ConsistentRead === true);
      return out;
    },
    // After the document client has marshalled its input, so keys and items are in DynamoDB's own form.
    { step: 'build', name: 'capacityMeter' },
  );
  return tally;
}

export interface Workload {
  readonly name: string;
  /** `HH:MM:SS ip` lines in time order, `ratePerSecond` of them per second from `startMs`. */
  readonly lines: readonly string[];
  readonly ips: number;
  readonly startMs: number;
  readonly ratePerSecond: number;
}

export interface CapacityFigures {
  readonly lines: number;
  readonly pairs: number;
  readonly tally: CapacityTally;
  readonly foldInvocations: number;
  readonly emitPasses: number;
  readonly records: number;
  readonly recordBytes: number;
  /** Counted lines in the results at the end (all emitted): the run is checked, not only metered. */
  readonly emittedLines: number;
  /** What the windows table holds at the end, as DynamoDB bills storage (item sizes plus 100 bytes each). */
  readonly resultBytes: number;
  /** What the shard-state table holds at the end, the same way (panes, where a version writes them). */
  readonly stateBytes: number;
}

/** A table's billed size: every item's size plus DynamoDB's 100 bytes of overhead (an unmetered scan). */
async function tableBytes(client: DynamoDBClient, table: string): Promise<number> {
  let bytes = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await client.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    for (const item of out.Items ?? []) bytes += itemSize(item) + 100;
    start = out.LastEvaluatedKey;
  } while (start);
  return bytes;
}

/**
 * The stack's defaults, replayed: `shards` shards keyed by IP, the producer's KPL records (one per 500 ms of
 * a shard's lines, or 51,200 bytes), one fold invocation per shard per batching window (1 s on the stack;
 * its batch size of 500 records is never the limit here), an emitter pass every `emitEverySeconds` of stream
 * time, and at the end one pass closing every window, as a stream that carries on would close them.
 */
export async function measureCapacity(
  workload: Workload,
  options: { shards?: number; batchSeconds?: number; emitEverySeconds?: number } = {},
): Promise<CapacityFigures> {
  const shards = options.shards ?? 4;
  const batchMs = (options.batchSeconds ?? 1) * 1000;
  const emitEveryMs = (options.emitEverySeconds ?? 5) * 1000;
  const stack = await startTestStack({ shards });
  const client = new DynamoDBClient({ ...stack.emulators.dynamo });
  const tally = meter(client, { ...stack.emulators.dynamo } as never, stack.prefix);
  const doc = documentClient(client);
  const logger = new Logger({ logLevel: 'ERROR' });
  const fold = createFoldHandler(foldDependencies(stack.env, doc, stack.kinesis), logger);
  const emit = emitDependencies(stack.env, doc, stack.kinesis);
  const shardOf = (ip: string) =>
    Number((BigInt(`0x${createHash('md5').update(ip).digest('hex')}`) * BigInt(shards)) >> 128n);
  const pairs = new Set<string>();
  let foldInvocations = 0;
  let emitPasses = 0;
  let records = 0;
  let recordBytes = 0;
  const next = Array.from({ length: shards }, () => 1);
  const batches = Math.ceil(workload.lines.length / ((workload.ratePerSecond * batchMs) / 1000));
  const perBatch = Math.round((workload.ratePerSecond * batchMs) / 1000);
  let lastEmit = workload.startMs;
  let emittedLines = 0;
  for (let b = 0; b < batches; b++) {
    const at = workload.startMs + (b + 1) * batchMs;
    const chunk = workload.lines.slice(b * perBatch, (b + 1) * perBatch);
    const byShard = Array.from({ length: shards }, () => [] as { ip: string; line: string; i: number }[]);
    chunk.forEach((line, i) => {
      const ip = line.split(' ')[1] ?? '';
      pairs.add(`${line.slice(0, 7)}${Number(line.slice(7, 8)) < 5 ? 0 : 5} ${ip}`);
      byShard[shardOf(ip)]?.push({ ip, line, i });
    });
    for (let s = 0; s < shards; s++) {
      const lines = byShard[s] ?? [];
      if (lines.length === 0) continue;
      // The producer's linger: a record per 500 ms of the shard's lines, or per 51,200 bytes.
      const built: { data: Uint8Array; partitionKey: string }[] = [];
      let aggregator = new RecordAggregator();
      let bytes = 0;
      let slot = 0;
      const flush = () => {
        const record = aggregator.build();
        if (record) built.push({ data: record.data, partitionKey: record.partitionKey });
        aggregator = new RecordAggregator();
        bytes = 0;
      };
      for (const { ip, line, i } of lines) {
        const lineSlot = Math.floor((i * 1000) / workload.ratePerSecond / 500);
        if (lineSlot !== slot || bytes + line.length + ip.length > 51_200) {
          flush();
          slot = lineSlot;
        }
        aggregator.addUserRecord({ partitionKey: ip, data: Buffer.from(line) });
        bytes += line.length + ip.length + 8;
      }
      flush();
      records += built.length;
      recordBytes += built.reduce((sum, r) => sum + r.data.length, 0);
      const shardId = `shardId-${String(s).padStart(12, '0')}`;
      await fold(recordsEvent(shardId, built, at, next[s]), localContext('fold'));
      next[s] = (next[s] ?? 1) + built.length;
      foldInvocations++;
    }
    if (at - lastEmit >= emitEveryMs) {
      emittedLines += (await emitDueWindows(emit, Date.now())).emitted.reduce((s, r) => s + r.count, 0);
      emitPasses++;
      lastEmit = at;
    }
  }
  const final = await emitDueWindows(emit, Date.now(), { endOfInput: true });
  emitPasses++;
  emittedLines += final.emitted.reduce((s, r) => s + r.count, 0);
  const unmetered = new DynamoDBClient({ ...stack.emulators.dynamo });
  const resultBytes = await tableBytes(unmetered, stack.names.windows);
  const stateBytes = await tableBytes(unmetered, stack.names.shardState);
  unmetered.destroy();
  client.destroy();
  await stack.stop();
  return {
    lines: workload.lines.length,
    pairs: pairs.size,
    tally,
    foldInvocations,
    emitPasses,
    records,
    recordBytes,
    emittedLines,
    resultBytes,
    stateBytes,
  };
}
