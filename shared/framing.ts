import { gunzipSync } from 'node:zlib';
import { deaggregateSync } from 'aws-kinesis-agg';
import { MAX_LINES_PER_RECORD } from './sequence.js';

/**
 * How the lines of one Kinesis record are framed, detected per record from its bytes, for every producer
 * users put in front of the stream:
 * - `line`: one line (ipcount's `--aggregate off`, a shipper without batching);
 * - `newline`: several lines separated by `\n` (Kinesis Agent, Fluent Bit, Vector, `--aggregate newline`);
 * - `kpl`: a KPL aggregated record (magic `F3 89 9A C2`, protobuf, MD5 of the protobuf), each sub-record
 *   itself a line or a newline batch;
 * - `cloudwatch`: a CloudWatch Logs subscription envelope (gzip JSON), one line per log event; a gzip
 *   payload that is not an envelope is read as gzip-compressed text.
 * Pure: the same bytes always give the same lines in the same order, so a line's index in its record is
 * part of its identity (see linePosition).
 */
export type Framing = 'line' | 'newline' | 'kpl' | 'cloudwatch' | 'gzip';

export interface FramedLine {
  readonly line: string;
  /**
   * The record's partition key, when the record is this one line: Kinesis routed it by that key, so a line
   * keyed by its own IP is on its IP's shard without hashing anything.
   */
  readonly recordKey?: string;
  /** The log event's own timestamp (CloudWatch Logs): stands in for the record's arrival for this line. */
  readonly arrivalMs?: number;
  /** Why this entry is no line at all (a log event without a message), dead-lettered in its place. */
  readonly unreadable?: string;
}

export type DecodedRecord =
  | { readonly framing: Framing; readonly lines: readonly FramedLine[] }
  /** Not readable as a whole (bad gzip, bad MD5, bad envelope): one dead letter for the record. */
  | { readonly framing: Framing; readonly corrupt: string };

const KPL_MAGIC = [0xf3, 0x89, 0x9a, 0xc2];
const KPL_CHECKSUM_BYTES = 16;
/** A compressed envelope is at most 1 MiB; this bounds what a hostile one may inflate to. */
export const MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024;

/** Invalid UTF-8 becomes U+FFFD rather than an exception, so binary input is classified per line, not thrown. */
const utf8 = new TextDecoder('utf-8', { fatal: false });

export function decodeRecord(data: Uint8Array, partitionKey = ''): DecodedRecord {
  if (startsWith(data, KPL_MAGIC)) return decodeKpl(data, partitionKey);
  if (data[0] === 0x1f && data[1] === 0x8b) return decodeGzip(data);
  const text = utf8.decode(data);
  if (!text.includes('\n')) return { framing: 'line', lines: [{ line: text, recordKey: partitionKey }] };
  const lines = linesOf(text);
  if (lines.length > MAX_LINES_PER_RECORD) return tooMany('newline', lines.length);
  // One line and its newline (Kinesis Agent, Fluent Bit): still a record of its own, routed by its key.
  const only = lines.length === 1 ? lines[0] : undefined;
  if (only) return { framing: 'newline', lines: [{ ...only, recordKey: partitionKey }] };
  return { framing: 'newline', lines };
}

/**
 * A newline batch's lines: split on `\n` (a `\r` before it is trimmed by the parser), the empty piece after a
 * final `\n` being framing, not a line. A record without `\n` is one line, as it always was.
 */
function linesOf(text: string): FramedLine[] {
  if (!text.includes('\n')) return [{ line: text }];
  const pieces = text.split('\n');
  if (pieces.length > 1 && pieces[pieces.length - 1] === '') pieces.pop();
  return pieces.map((line) => ({ line }));
}

function startsWith(data: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((byte, i) => data[i] === byte);
}

function tooMany(framing: Framing, lines: number): DecodedRecord {
  return { framing, corrupt: `${lines} lines in one record, more than ${MAX_LINES_PER_RECORD}` };
}

/** A sub-record as aws-kinesis-agg returns it for a record given in the SDK's form (keys capitalised). */
interface V3UserRecord {
  readonly PartitionKey: string;
  readonly Data: string;
}

function decodeKpl(data: Uint8Array, partitionKey: string): DecodedRecord {
  if (data.length < KPL_MAGIC.length + KPL_CHECKSUM_BYTES)
    return { framing: 'kpl', corrupt: `KPL record of ${data.length} bytes is shorter than its framing` };
  let failure: string | undefined;
  let userRecords: V3UserRecord[] = [];
  // The library reports through callbacks, synchronously; a failed sub-record is reported before the end.
  // Given the record as the SDK's GetRecords returns it (`Data` as bytes), it reads the bytes as they are
  // rather than a base64 copy of them.
  deaggregateSync(
    {
      Data: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      PartitionKey: partitionKey,
      SequenceNumber: '0',
    } as never,
    true,
    (error, records) => {
      if (error) failure ??= error.message;
      else if (records) userRecords = records as unknown as V3UserRecord[];
    },
  );
  if (failure !== undefined) return { framing: 'kpl', corrupt: `KPL record unreadable: ${failure}` };
  const lines: FramedLine[] = [];
  for (const record of userRecords) {
    for (const line of linesOf(utf8.decode(Buffer.from(record.Data, 'base64')))) lines.push(line);
    if (lines.length > MAX_LINES_PER_RECORD) return tooMany('kpl', lines.length);
  }
  return { framing: 'kpl', lines };
}

function decodeGzip(data: Uint8Array): DecodedRecord {
  let inflated: Buffer;
  try {
    inflated = gunzipSync(data, { maxOutputLength: MAX_DECOMPRESSED_BYTES });
  } catch (error) {
    return { framing: 'gzip', corrupt: `gzip payload unreadable: ${(error as Error).message}` };
  }
  const text = utf8.decode(inflated);
  const envelope = cloudWatchPayload(text);
  if (envelope === undefined) {
    const lines = linesOf(text);
    return lines.length > MAX_LINES_PER_RECORD ? tooMany('gzip', lines.length) : { framing: 'gzip', lines };
  }
  if (envelope === DAMAGED) return { framing: 'cloudwatch', corrupt: 'gzip JSON payload is not valid JSON' };
  return decodeCloudWatch(envelope);
}

const DAMAGED = Symbol('damaged JSON');

/**
 * A gzipped payload is CloudWatch Logs' when it is one JSON object naming a `messageType` (returned, parsed
 * once), or one line of JSON too damaged to tell (DAMAGED). Gzipped lines (ipcount run's records, a
 * shipper's compressed output) may be JSON lines too: several of them, or one without a `messageType`.
 */
function cloudWatchPayload(text: string): object | typeof DAMAGED | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(trimmed) as unknown;
    return typeof parsed === 'object' && parsed !== null && 'messageType' in parsed ? parsed : undefined;
  } catch {
    return trimmed.includes('\n') ? undefined : DAMAGED;
  }
}

/**
 * A CloudWatch Logs subscription envelope: `DATA_MESSAGE` holds log events, one line each, in their order;
 * `CONTROL_MESSAGE` (sent when the subscription is created, to check the destination) holds none.
 */
function decodeCloudWatch(envelope: object): DecodedRecord {
  const { messageType, logEvents } = envelope as { messageType?: unknown; logEvents?: unknown };
  if (messageType === 'CONTROL_MESSAGE') return { framing: 'cloudwatch', lines: [] };
  if (messageType !== 'DATA_MESSAGE' || !Array.isArray(logEvents))
    return {
      framing: 'cloudwatch',
      corrupt: 'gzip JSON is no CloudWatch Logs envelope (messageType, logEvents)',
    };
  if (logEvents.length > MAX_LINES_PER_RECORD) return tooMany('cloudwatch', logEvents.length);
  return {
    framing: 'cloudwatch',
    lines: logEvents.map((event): FramedLine => {
      const { message, timestamp } = (event ?? {}) as { message?: unknown; timestamp?: unknown };
      const at = typeof timestamp === 'number' && Number.isFinite(timestamp) ? { arrivalMs: timestamp } : {};
      if (typeof message !== 'string')
        return {
          line: JSON.stringify(event ?? null).slice(0, 1024),
          unreadable: 'log event without a string message',
          ...at,
        };
      // A log event is one line; the newline an agent may leave at its end is not part of it.
      return { line: message.endsWith('\n') ? message.slice(0, -1) : message, ...at };
    }),
  };
}

/** Just the text of a record's lines, for reading back what a producer put; none for a corrupt record. */
export function textLinesOf(data: Uint8Array, partitionKey = ''): string[] {
  const decoded = decodeRecord(data, partitionKey);
  return 'lines' in decoded ? decoded.lines.map((l) => l.line) : [];
}
