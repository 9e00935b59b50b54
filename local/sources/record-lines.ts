import { deaggregateSync, type UserRecord } from 'aws-kinesis-agg';

/**
 * The lines one Kinesis record holds, by its bytes, for reading back what a producer put (resume): a KPL
 * aggregated record (magic `F3 89 9A C2`, MD5-checked) gives its sub-records, a record with `\n` its
 * newline-separated lines (the empty piece after a final `\n` is framing), any other record is one line.
 * UTF-8 text cannot start with the KPL magic, so a line is never taken for one. A KPL record that fails its
 * checksum or does not parse holds no line this producer put: it gives none.
 * Pure; to be replaced by the fold's shared decoder (shared/framing.ts).
 */
const KPL_MAGIC = Buffer.from('f3899ac2', 'hex');

export function recordLines(data: Uint8Array, partitionKey: string): string[] {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.subarray(0, KPL_MAGIC.length).equals(KPL_MAGIC)) return kplLines(bytes, partitionKey);
  return newlineLines(bytes.toString('utf8'));
}

function newlineLines(text: string): string[] {
  if (!text.includes('\n')) return [text];
  const pieces = text.split('\n');
  if (pieces[pieces.length - 1] === '') pieces.pop();
  return pieces;
}

function kplLines(bytes: Buffer, partitionKey: string): string[] {
  let userRecords: UserRecord[] = [];
  let failed = false;
  // Synchronous, through callbacks; the sequence number only labels the sub-records.
  deaggregateSync(
    { data: bytes.toString('base64'), partitionKey, sequenceNumber: '0' } as never,
    true,
    (error, records) => {
      if (error) failed = true;
      else if (records) userRecords = records;
    },
  );
  if (failed) return [];
  return userRecords.flatMap((r) => newlineLines(Buffer.from(r.data, 'base64').toString('utf8')));
}
