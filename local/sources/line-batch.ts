import type { PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import type { PackedLine, RecordPacker } from './record-packing.js';

/** Where a line's record goes: an open shard (ExplicitHashKey = its start), or, unaggregated, by its own key. */
export interface Lane {
  readonly shardId?: string;
  readonly explicitHashKey?: string;
}

/** A record ready for PutRecords, and what it carries. */
export interface OutgoingRecord {
  readonly entry: PutRecordsRequestEntry;
  readonly lines: number;
  /** Data plus partition key: what Kinesis counts against its limits. */
  readonly bytes: number;
  /** The shard it was packed for: a put that lands elsewhere means the shard map is out of date. */
  readonly shardId?: string;
}

export interface BatchLimits {
  readonly maxRecords: number;
  readonly maxBytes: number;
}

/**
 * The lines of one producer batch: put numbers `from` to `from + lines`, consecutive, so the journal's hooks
 * see a batch as a range. They are packed as they come, each into the open record of its lane (its shard); a
 * record that would pass the size limit is closed and the lane starts another. One batch is one PutRecords
 * request, as long as the routing it was packed under holds (see `repacked`).
 */
export class LineBatch {
  readonly payloads: Buffer[] = [];
  private readonly keys: string[] = [];
  private readonly closed: OutgoingRecord[] = [];
  private readonly open = new Map<string, { readonly lane: Lane; readonly packer: RecordPacker }>();
  private bytes = 0;

  constructor(
    readonly from: number,
    /** The shard map version the lines were routed under. */
    readonly routing: number,
    private readonly limits: BatchLimits,
    private readonly newPacker: () => RecordPacker,
  ) {}

  get lines(): number {
    return this.payloads.length;
  }

  get records(): number {
    return this.closed.length + this.open.size;
  }

  get full(): boolean {
    return this.records >= this.limits.maxRecords;
  }

  /**
   * Packs the line into its lane's record, or a new one when it does not fit there. False, with nothing
   * changed, when that new record or the line's bytes would pass the request's limits: the batch must go
   * first. An empty batch takes any line, and so does a forced place.
   */
  place(line: PackedLine, lane: Lane, force = false): boolean {
    const id = lane.shardId ?? '';
    const current = this.open.get(id);
    const joins = current?.packer.fits(line) === true;
    const packer = joins && current ? current.packer : this.newPacker();
    const grows = packer.bytesWith(line) - packer.bytes;
    if (this.lines > 0 && !force) {
      if (!joins && this.records + 1 > this.limits.maxRecords) return false;
      if (this.bytes + grows > this.limits.maxBytes) return false;
    }
    if (!joins && current) this.closed.push(outgoing(current.lane, current.packer));
    if (!joins) this.open.set(id, { lane, packer });
    packer.add(line);
    this.bytes += grows;
    this.payloads.push(line.data);
    this.keys.push(line.key);
    return true;
  }

  /**
   * The same lines packed again under new routing (after a reshard), for a batch not yet sent. Forced: more
   * shards can mean more records than one request takes; the producer splits its requests by the limits
   * anyway, and a batch past them takes no more lines.
   */
  repacked(routing: number, laneOf: (key: string) => Lane): LineBatch {
    const again = new LineBatch(this.from, routing, this.limits, this.newPacker);
    this.payloads.forEach((data, i) => {
      const key = this.keys[i] ?? '';
      again.place({ data, key }, laneOf(key), true);
    });
    return again;
  }

  /** The batch's records, each lane's in the order of its lines. Builds the open ones: call it once. */
  outgoing(): OutgoingRecord[] {
    return [...this.closed, ...[...this.open.values()].map(({ lane, packer }) => outgoing(lane, packer))];
  }
}

function outgoing(lane: Lane, packer: RecordPacker): OutgoingRecord {
  const { data, partitionKey } = packer.build();
  return {
    entry: {
      Data: data,
      PartitionKey: partitionKey,
      ...(lane.explicitHashKey !== undefined ? { ExplicitHashKey: lane.explicitHashKey } : {}),
    },
    lines: packer.lines,
    bytes: data.length + Buffer.byteLength(partitionKey, 'utf8'),
    ...(lane.shardId !== undefined ? { shardId: lane.shardId } : {}),
  };
}
