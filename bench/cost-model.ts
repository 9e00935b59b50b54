/**
 * Dollars per billion lines on AWS, from what the bench measured (request units, records, invocations) and
 * list prices. The prices, all us-east-1 on-demand list prices, are kept in this one table with the date
 * they were read; everything else is either measured or a stated assumption below.
 */
export const PRICES = {
  asOf: '2026-12-02 (us-east-1 list prices; DynamoDB on-demand after the November 2024 cut)',
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  kinesisOnDemandStreamHour: 0.04,
  kinesisOnDemandIngestGb: 0.08,
  kinesisOnDemandRetrievalGb: 0.04,
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecond: 0.0000166667,
  flinkKpuHour: 0.11,
  flinkStorageGbMonth: 0.1,
  dynamoStorageGbMonth: 0.25,
} as const;

/** The stated assumptions: what the bench cannot measure on this machine. */
export const ASSUMPTIONS = {
  /** A DynamoDB request's round trip from Lambda, and how many the fold keeps in flight (its setting). */
  dynamoRoundTripMs: 5,
  writeConcurrency: 16,
  /** Lambda's base duration per invocation (runtime, SDK, the begin and progress writes are counted above). */
  invocationBaseMs: 10,
  foldMemoryGb: 0.5,
  emitMemoryGb: 0.5,
  /** The emitter loops 50 s of every minute, whatever the traffic. */
  emitSecondsPerMinute: 55,
  /**
   * Managed Flink: a KPU is 1 vCPU and 4 GB. The same job (parse, keyBy IP, 5 s tumbling windows, sum) is
   * taken to sustain 20,000 lines/s per KPU reading Kinesis and writing DynamoDB, and an application pays one
   * more KPU for orchestration and 50 GB of running storage per KPU; it writes each (ip, window) result once
   * to DynamoDB (1 write unit) and reads the same stream.
   */
  flinkLinesPerKpuSecond: 20_000,
  flinkOrchestrationKpus: 1,
  flinkStorageGbPerKpu: 50,
  flinkResultWriteUnits: 1,
  /** A Flink result as one DynamoDB item (ip, window start and end, count), before the 100 bytes of overhead. */
  flinkResultItemBytes: 50,
  /** How long results are kept: the stack's resultRetentionDays, in months of 30 days. */
  resultRetentionMonths: 3,
  /** How long the shard-state table's bulk (panes) is kept: windowRetentionSeconds, 1 day, in months. */
  stateRetentionMonths: 1 / 30,
} as const;

export interface MeasuredCosts {
  readonly lines: number;
  readonly ratePerSecond: number;
  readonly pairs: number;
  readonly writeUnits: number;
  readonly readUnits: number;
  readonly dynamoRequests: number;
  readonly records: number;
  readonly recordBytes: number;
  readonly foldInvocations: number;
  /** Lines per second one core folds (the bench's fold-core figure): the fold's CPU time per line. */
  readonly foldLinesPerCoreSecond: number;
  /** Bytes the results take as DynamoDB bills storage, and the shard-state table (panes). */
  readonly resultBytes: number;
  readonly stateBytes: number;
}

export interface CostRow {
  readonly item: string;
  readonly dollars: number;
}

const BILLION = 1e9;

export function ipcountCosts(m: MeasuredCosts): CostRow[] {
  const scale = BILLION / m.lines;
  const hours = BILLION / m.ratePerSecond / 3600;
  // On-demand Kinesis bills each record's payload rounded up to 1 KB, in and out (Lambda's shared reads).
  const recordGb = (m.records * scale * Math.ceil(m.recordBytes / m.records / 1024)) / (1024 * 1024);
  const perInvocationMs =
    ASSUMPTIONS.invocationBaseMs +
    ((m.lines / m.foldInvocations / m.foldLinesPerCoreSecond) * 1000 +
      (m.dynamoRequests / m.foldInvocations / ASSUMPTIONS.writeConcurrency) * ASSUMPTIONS.dynamoRoundTripMs);
  const invocations = m.foldInvocations * scale;
  return [
    { item: 'Kinesis on-demand stream hours', dollars: hours * PRICES.kinesisOnDemandStreamHour },
    {
      item: 'Kinesis ingest + retrieval',
      dollars: recordGb * (PRICES.kinesisOnDemandIngestGb + PRICES.kinesisOnDemandRetrievalGb),
    },
    { item: 'DynamoDB writes', dollars: m.writeUnits * scale * PRICES.dynamoWriteUnit },
    { item: 'DynamoDB reads', dollars: m.readUnits * scale * PRICES.dynamoReadUnit },
    {
      item: 'DynamoDB storage',
      dollars:
        ((m.resultBytes * ASSUMPTIONS.resultRetentionMonths +
          m.stateBytes * ASSUMPTIONS.stateRetentionMonths) *
          scale *
          PRICES.dynamoStorageGbMonth) /
        1e9,
    },
    {
      item: 'Lambda fold',
      dollars:
        invocations * PRICES.lambdaRequest +
        ((invocations * perInvocationMs) / 1000) * ASSUMPTIONS.foldMemoryGb * PRICES.lambdaGbSecond,
    },
    {
      item: 'Lambda emitter',
      dollars:
        hours *
        60 *
        (PRICES.lambdaRequest +
          ASSUMPTIONS.emitSecondsPerMinute * ASSUMPTIONS.emitMemoryGb * PRICES.lambdaGbSecond),
    },
  ];
}

export function flinkCosts(m: MeasuredCosts): CostRow[] {
  const scale = BILLION / m.lines;
  const hours = BILLION / m.ratePerSecond / 3600;
  const kpus =
    Math.ceil(m.ratePerSecond / ASSUMPTIONS.flinkLinesPerKpuSecond) + ASSUMPTIONS.flinkOrchestrationKpus;
  const recordGb = (m.records * scale * Math.ceil(m.recordBytes / m.records / 1024)) / (1024 * 1024);
  return [
    { item: 'Kinesis on-demand stream hours', dollars: hours * PRICES.kinesisOnDemandStreamHour },
    {
      item: 'Kinesis ingest + retrieval',
      dollars: recordGb * (PRICES.kinesisOnDemandIngestGb + PRICES.kinesisOnDemandRetrievalGb),
    },
    { item: `Flink ${kpus} KPUs`, dollars: hours * kpus * PRICES.flinkKpuHour },
    {
      item: 'Flink running storage',
      dollars:
        (hours / 730) *
        (kpus - ASSUMPTIONS.flinkOrchestrationKpus) *
        ASSUMPTIONS.flinkStorageGbPerKpu *
        PRICES.flinkStorageGbMonth,
    },
    {
      item: 'DynamoDB result writes',
      dollars: m.pairs * scale * ASSUMPTIONS.flinkResultWriteUnits * PRICES.dynamoWriteUnit,
    },
    {
      item: 'DynamoDB storage',
      dollars:
        (m.pairs *
          scale *
          (ASSUMPTIONS.flinkResultItemBytes + 100) *
          ASSUMPTIONS.resultRetentionMonths *
          PRICES.dynamoStorageGbMonth) /
        1e9,
    },
  ];
}

export const total = (rows: readonly CostRow[]) => rows.reduce((sum, r) => sum + r.dollars, 0);
