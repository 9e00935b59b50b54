import { gzipSync } from 'node:zlib';
import { RecordAggregator } from 'aws-kinesis-agg';

/**
 * How the producer puts lines into Kinesis records:
 * - `kpl`: a KPL aggregated record (magic, protobuf, MD5 of the protobuf), one sub-record per line, each with
 *   the line's own partition key, so any KPL-aware reader sees every line under its key, and a damaged record
 *   is detected by its checksum;
 * - `newline`: the lines joined by `\n`, with a trailing `\n` (what the Kinesis Agent, Fluent Bit and Vector
 *   send);
 * - `off`: one line per record, as before aggregation.
 * An aggregated record holds the lines of one shard, up to a size limit.
 */
export type Aggregation = 'kpl' | 'newline' | 'gzip' | 'off';
export const AGGREGATIONS: readonly Aggregation[] = ['kpl', 'newline', 'gzip', 'off'];
export const DEFAULT_AGGREGATION: Aggregation = 'kpl';
/**
 * `ipcount run`'s: gzip, in records of up to a quarter MB of lines (about 25 KB compressed). Measured on a
 * million NGINX combined lines: 1.5× kpl's lines/s for two thirds of its CPU (npm run bench:replay).
 */
export const RUN_AGGREGATION: Aggregation = 'gzip';
export const RUN_AGGREGATE_BYTES = 262_144;

/** Kinesis's record limit: data blob plus partition key. */
export const MAX_RECORD_BYTES = 1_048_576;
/** The KPL's AggregationMaxSize: exactly two 25 KB PUT payload units. */
export const DEFAULT_AGGREGATE_BYTES = 51_200;
/**
 * The smallest record limit: the longest line the producer puts (MAX_LINE_BYTES, 8 KiB; longer ones go cut)
 * with its KPL framing and the longest partition key (an IPv6 address) takes about 8.3 KB alone.
 */
export const MIN_AGGREGATE_BYTES = 10_240;
/**
 * How long a batch waits for more lines: a tenth of a 5 s window, so at 1,000 lines/s over 4 shards a record
 * holds over 100 lines (200 ms held 50). Every result waits this much longer, a price paid once per line.
 */
export const DEFAULT_LINGER_MS = 500;
/**
 * `ipcount run`'s linger: the emulators charge nothing per record, and a replayed file is packed far faster
 * than 500 ms allows for, so its lines reach the fold while the rest is still being read.
 */
export const RUN_LINGER_MS = 50;

/** A line as it goes on the stream: its bytes (recordText) and its partition key (the normalised IP). */
export interface PackedLine {
  readonly data: Buffer;
  readonly key: string;
}

/** One Kinesis record being filled. Sizes are what Kinesis counts: data plus partition key, in bytes. */
export interface RecordPacker {
  readonly lines: number;
  readonly bytes: number;
  /** The record's size with this line added. */
  bytesWith(line: PackedLine): number;
  /** Whether the line may join: an empty record takes any line. */
  fits(line: PackedLine): boolean;
  add(line: PackedLine): void;
  build(): { readonly data: Buffer; readonly partitionKey: string };
}

export function recordPacker(aggregation: Aggregation, limitBytes: number): RecordPacker {
  if (aggregation === 'kpl') return new KplPacker(limitBytes);
  if (aggregation === 'newline') return new NewlinePacker(limitBytes);
  if (aggregation === 'gzip') return new GzipPacker(limitBytes);
  return new SingleLine();
}

const keyBytes = (key: string | undefined) => (key === undefined ? 0 : Buffer.byteLength(key, 'utf8'));

/** 4 bytes of magic before the protobuf, 16 of MD5 after it. */
const KPL_FRAMING_BYTES = 20;

/**
 * KPL framing through aws-kinesis-agg. Its own cap is 1 MB, so the limit is kept here, from its size
 * arithmetic (exact for ASCII partition keys, which IPs and `unparsed-N` keys are). The record's partition key
 * is its first line's; the producer routes it with ExplicitHashKey, so sub-records carry no hash key.
 */
class KplPacker implements RecordPacker {
  private readonly aggregator = new RecordAggregator();
  private firstKey: string | undefined;
  lines = 0;

  constructor(private readonly limit: number) {}

  get bytes(): number {
    return this.lines === 0 ? 0 : KPL_FRAMING_BYTES + this.aggregator.totalBytes + keyBytes(this.firstKey);
  }

  /** The size a line adds, for the last line asked about: placing a line asks twice (fits, then grows). */
  private sized: { readonly line: PackedLine; readonly bytes: number } | undefined;

  bytesWith(line: PackedLine): number {
    if (this.sized?.line !== line)
      this.sized = {
        line,
        bytes: this.aggregator.calculateUserRecordSize({ partitionKey: line.key, data: line.data }),
      };
    return (
      KPL_FRAMING_BYTES + this.aggregator.totalBytes + this.sized.bytes + keyBytes(this.firstKey ?? line.key)
    );
  }

  fits(line: PackedLine): boolean {
    return this.lines === 0 || this.bytesWith(line) <= this.limit;
  }

  add(line: PackedLine): void {
    this.sized = undefined; // what a line adds depends on the keys already in the record
    this.aggregator.addUserRecord({ partitionKey: line.key, data: line.data });
    this.firstKey ??= line.key;
    this.lines++;
  }

  build(): { data: Buffer; partitionKey: string } {
    const built = this.aggregator.build();
    if (!built) throw new Error('an empty KPL record was built');
    return { data: built.data, partitionKey: built.partitionKey };
  }
}

const NEWLINE = Buffer.from('\n');

/** Lines joined by `\n`, each ended by one (so a one-line record still says it is newline-framed). */
class NewlinePacker implements RecordPacker {
  private readonly parts: Buffer[] = [];
  private dataBytes = 0;
  private firstKey: string | undefined;

  constructor(private readonly limit: number) {}

  get lines(): number {
    return this.parts.length;
  }

  get bytes(): number {
    return this.lines === 0 ? 0 : this.dataBytes + keyBytes(this.firstKey);
  }

  bytesWith(line: PackedLine): number {
    return this.dataBytes + line.data.length + NEWLINE.length + keyBytes(this.firstKey ?? line.key);
  }

  fits(line: PackedLine): boolean {
    return this.lines === 0 || this.bytesWith(line) <= this.limit;
  }

  add(line: PackedLine): void {
    this.parts.push(line.data);
    this.dataBytes += line.data.length + NEWLINE.length;
    this.firstKey ??= line.key;
  }

  build(): { data: Buffer; partitionKey: string } {
    if (this.firstKey === undefined) throw new Error('an empty newline record was built');
    return {
      data: Buffer.concat(this.parts.flatMap((part) => [part, NEWLINE])),
      partitionKey: this.firstKey,
    };
  }
}

/**
 * `gzip`: newline-framed lines, gzipped (Vector's and Fluent Bit's Kinesis outputs compress so): an access
 * log shrinks about tenfold, and so does every byte the stream, the event and the fold's decoding handle.
 * Sizes are counted before compression, which gzip can only add its few bytes of framing to: a record
 * never passes its limit, whatever its lines.
 */
class GzipPacker extends NewlinePacker {
  /** gzip's header and trailer, and the stored blocks' framing of incompressible data, with room to spare. */
  private static readonly FRAMING_BYTES = 1_024;

  override bytesWith(line: PackedLine): number {
    return super.bytesWith(line) + GzipPacker.FRAMING_BYTES;
  }

  override get bytes(): number {
    return this.lines === 0 ? 0 : super.bytes + GzipPacker.FRAMING_BYTES;
  }

  override build(): { data: Buffer; partitionKey: string } {
    const { data, partitionKey } = super.build();
    return { data: gzipSync(data, { level: 1 }), partitionKey };
  }
}

/** `off`: the record is the line, under its own partition key. */
class SingleLine implements RecordPacker {
  private line: PackedLine | undefined;

  get lines(): number {
    return this.line ? 1 : 0;
  }

  get bytes(): number {
    return this.line ? this.bytesWith(this.line) : 0;
  }

  bytesWith(line: PackedLine): number {
    return line.data.length + keyBytes(line.key);
  }

  fits(): boolean {
    return this.line === undefined;
  }

  add(line: PackedLine): void {
    if (this.line) throw new Error('a second line in a one-line record');
    this.line = line;
  }

  build(): { data: Buffer; partitionKey: string } {
    if (!this.line) throw new Error('an empty record was built');
    return { data: this.line.data, partitionKey: this.line.key };
  }
}
