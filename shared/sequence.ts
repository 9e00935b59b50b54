/**
 * Kinesis sequence numbers are decimal strings of up to 129 digits, increasing within a shard only.
 * DynamoDB numbers hold 38 digits, so we store them as fixed-width strings: left-padded, byte order
 * equals numeric order, and `<` in a condition expression compares them correctly.
 */
export const SEQUENCE_WIDTH = 129;

const DIGITS = /^[0-9]{1,129}$/;

/** Left-pads a Kinesis sequence number to {@link SEQUENCE_WIDTH} characters; throws on anything else. */
export function padSequence(sequenceNumber: string): string {
  if (!DIGITS.test(sequenceNumber)) {
    throw new Error(`not a Kinesis sequence number: ${JSON.stringify(sequenceNumber.slice(0, 40))}`);
  }
  return sequenceNumber.padStart(SEQUENCE_WIDTH, '0');
}

/** Strips the padding again, for display and for Kinesis API calls. */
export function unpadSequence(padded: string): string {
  const stripped = padded.replace(/^0+/, '');
  return stripped === '' ? '0' : stripped;
}

/** Numeric comparison of two unpadded or padded sequence numbers of the same shard. */
export function compareSequence(a: string, b: string): number {
  const pa = a.length === SEQUENCE_WIDTH ? a : padSequence(a);
  const pb = b.length === SEQUENCE_WIDTH ? b : padSequence(b);
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/** `shardId-000000000003` → 4: the 1-based worker number printed before a result, like Flink's `k>`. */
export function shardOrdinal(shardId: string): number {
  const match = /(\d+)$/.exec(shardId);
  if (!match?.[1]) throw new Error(`shard id has no number: ${shardId}`);
  return Number.parseInt(match[1], 10) + 1;
}

/**
 * A line's place in its shard: its Kinesis record's padded sequence number, then the line's index in that
 * record (one record may hold many lines: a newline batch, KPL sub-records, a CloudWatch Logs envelope). Fixed
 * width, so byte order is the shard's order, line by line; the guards, the stored progress and the dead
 * letters all key on it, so replays are deduplicated per line, not per record.
 */
export const LINE_INDEX_WIDTH = 6;
export const POSITION_WIDTH = SEQUENCE_WIDTH + LINE_INDEX_WIDTH;
/** Lines one record may hold: the index has six digits (a record of 1 MiB of bare newlines would hold more: refused). */
export const MAX_LINES_PER_RECORD = 10 ** LINE_INDEX_WIDTH - 1;

export function linePosition(paddedSequence: string, lineIndex: number): string {
  return paddedSequence + String(lineIndex).padStart(LINE_INDEX_WIDTH, '0');
}

/**
 * The padded Kinesis sequence number of the record a position is in. A bare padded sequence number (state
 * written before positions had line indexes) is its own record.
 */
export function sequenceOfPosition(position: string): string {
  return position.length > SEQUENCE_WIDTH ? position.slice(0, SEQUENCE_WIDTH) : position;
}

/** The position after every line of a record: "through this record" as a position. */
export function endOfRecord(paddedSequence: string): string {
  return paddedSequence + '9'.repeat(LINE_INDEX_WIDTH);
}

/**
 * A stored position as this version compares them. One without a line index was written when a record was a
 * line: it meant "through that record", so it is read as the record's end, and nothing of it is folded twice.
 */
export function storedPosition(stored: string): string {
  return stored.length === SEQUENCE_WIDTH ? endOfRecord(stored) : stored;
}

/** `4959…0123#4`: a position for people (unpadded sequence number, then the line's index in its record). */
export function describePosition(position: string): string {
  const sequence = unpadSequence(sequenceOfPosition(position));
  return position.length > SEQUENCE_WIDTH
    ? `${sequence}#${Number(position.slice(SEQUENCE_WIDTH))}`
    : sequence;
}
