import { createHash, type Hash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordText } from '../../shared/parse.js';
import type { ProducerBatch, ProducerHooks } from './producer.js';

/**
 * What each bounded input of a data dir has durably put on its stream, so a run killed at any point can be
 * resumed without putting a line twice or losing one. A file is known by its content, not its path: the
 * count of lines acknowledged and a hash over them. Kept beside the owner file, rewritten atomically (temp
 * file + rename) before and after every PutRecords batch.
 */
export const INPUTS_FILE = 'ipcount-inputs.json';

/** The batch in flight when the journal was last written: some, all or none of it may be on the stream. */
export interface PendingBatch {
  readonly fromLine: number;
  readonly toLine: number;
  /**
   * The lines of the batch: line number and payload hash (a repair batch holds only some of the range). Lines,
   * not Kinesis records: an aggregated record holds many, and is read back line by line.
   */
  readonly records: readonly (readonly [number, string])[];
  /** The prefix hash through `toLine`: a file whose lines so far match it holds this very batch. */
  readonly hashAtTo?: string;
  /** Per shard, the last sequence number known before the batch: its records, if any, come after. */
  readonly after: Readonly<Record<string, string>>;
  /** For shards with no known sequence number: its records arrived at or after this time. */
  readonly sentAtMs: number;
  /** Once the stream has been read back: the line numbers of the batch's lines that are not on it. */
  readonly missing?: readonly number[];
}

export interface InputEntry {
  readonly id: string;
  readonly prefix: string;
  readonly kind: 'file' | 'stdin' | 'tcp';
  /** The path or address it was read from: for messages only, never to recognise it. */
  readonly source: string;
  /** Lines acknowledged on the stream, from the input's start. */
  lines: number;
  /** For a file, the prefix hash of those lines. */
  hash?: string;
  /** The end-of-input emit succeeded after the last of these lines was put: every one of them is counted. */
  finished: boolean;
  pending?: PendingBatch;
}

interface JournalFile {
  readonly version: 1;
  readonly inputs: InputEntry[];
}

/** The bytes a line goes on the stream as: what the journal hashes, so resume compares like with like. */
export function payloadOf(line: string): Buffer {
  return Buffer.from(recordText(line), 'utf8');
}

/** One record's identity for matching it on the stream (128 bits of sha256: collisions are not a concern). */
export function payloadHash(payload: Uint8Array): string {
  return createHash('sha256').update(payload).digest('hex').slice(0, 32);
}

/** A running sha256 over payloads, each length-prefixed so lines cannot run into each other. */
export class PrefixHash {
  constructor(private readonly hash: Hash = createHash('sha256')) {}
  add(payload: Uint8Array): void {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(payload.length);
    this.hash.update(length).update(payload);
  }
  digest(): string {
    return this.hash.copy().digest('hex');
  }
  /** The digest after these payloads too, without adding them. */
  digestWith(payloads: readonly Uint8Array[]): string {
    const next = new PrefixHash(this.hash.copy());
    for (const p of payloads) next.add(p);
    return next.digest();
  }
}

/** Lines of an entry on the stream: the acknowledged ones, plus those of a read-back pending batch. */
export function linesOnStream(entry: InputEntry): number {
  const pending = entry.pending;
  if (!pending) return entry.lines;
  if (!pending.missing) return entry.lines; // not read back yet: at least these
  return pending.toLine - pending.missing.length;
}

export class InputJournal {
  private constructor(
    readonly dir: string,
    private readonly inputs: InputEntry[],
  ) {}

  static open(dir: string): InputJournal {
    const path = join(dir, INPUTS_FILE);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return new InputJournal(dir, []);
    }
    try {
      const file = JSON.parse(text) as JournalFile;
      if (file.version !== 1 || !Array.isArray(file.inputs)) throw new Error(`version ${file.version}`);
      return new InputJournal(dir, file.inputs);
    } catch (error) {
      throw new Error(
        `the input journal ${path} is unreadable (${(error as Error).message}): move it away to run without resuming`,
      );
    }
  }

  entries(prefix: string): InputEntry[] {
    return this.inputs.filter((e) => e.prefix === prefix);
  }

  save(): void {
    const path = join(this.dir, INPUTS_FILE);
    const file: JournalFile = { version: 1, inputs: this.inputs };
    writeFileSync(`${path}.tmp`, `${JSON.stringify(file)}\n`);
    renameSync(`${path}.tmp`, path);
  }

  /** A new input, entered in the journal at its first batch (an input that never put a line leaves nothing). */
  newEntry(prefix: string, kind: InputEntry['kind'], source: string): InputEntry {
    return { id: crypto.randomUUID(), prefix, kind, source, lines: 0, finished: false };
  }

  /**
   * The producer hooks that journal `entry` from line `fromLine` on (put number 0 is that line): the batch
   * as pending before it is sent, then its lines as acknowledged. `running` is the file's prefix hash
   * through `fromLine`; stdin and tcp have none.
   */
  track(entry: InputEntry, fromLine: number, running?: PrefixHash): ProducerHooks {
    return {
      beforeSend: (batch: ProducerBatch) => {
        if (!this.inputs.includes(entry)) this.inputs.push(entry);
        const from = fromLine + batch.from;
        entry.finished = false;
        entry.pending = {
          fromLine: from,
          toLine: from + batch.payloads.length,
          records: batch.payloads.map((p, i) => [from + i, payloadHash(p)] as const),
          ...(running ? { hashAtTo: running.digestWith(batch.payloads) } : {}),
          after: Object.fromEntries(batch.lastSequenceByShard),
          sentAtMs: Date.now(),
        };
        this.save();
      },
      afterAck: (batch: ProducerBatch) => {
        for (const p of batch.payloads) running?.add(p);
        entry.lines = fromLine + batch.from + batch.payloads.length;
        if (running) entry.hash = running.digest();
        entry.pending = undefined;
        this.save();
      },
    };
  }

  /** After an end-of-input emit: every line of the prefix's inputs on the stream is counted. */
  markFinished(prefix: string): void {
    for (const entry of this.entries(prefix)) entry.finished = true;
    this.save();
  }
}
