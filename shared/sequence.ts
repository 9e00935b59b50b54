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
