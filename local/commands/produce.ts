import type { Readable, Writable } from 'node:stream';
import { type AwsTarget, createKinesisClient } from '../../shared/store/clients.js';
import { type DeploymentRef, resolveDeployment } from '../aws/deployment.js';
import { lineSourceSpec, openLineSource } from '../sources/line-source.js';
import { StreamProducer } from '../sources/producer.js';
import { type Aggregation, DEFAULT_AGGREGATION } from '../sources/record-packing.js';

/**
 * `ipcount produce`: lines from a file, stdin or a TCP log service onto a real stream (AWS, LocalStack, the
 * embedded edge). Packing lines into records, PutRecords batching and per-record retry are the producer's;
 * this adds the source, a progress line, and a clean flush on Ctrl-C.
 */
export interface ProduceOptions {
  readonly target: AwsTarget;
  /** The stream by name, or the deployment whose stream it is. */
  readonly stream: { readonly name: string } | DeploymentRef;
  /** A file, '-' for stdin, or `tcp://host:port`: a log service writing one line per `\n`. */
  /** Files read in order as one input, stdin ('-') or tcp://host:port; stdin when absent. */
  readonly input?: string | readonly string[];
  readonly progressIntervalMs?: number;
  /** How lines go into Kinesis records (default DEFAULT_AGGREGATION), the record size limit and the linger. */
  readonly aggregation?: Aggregation;
  readonly aggregateBytes?: number;
  readonly lingerMs?: number;
}

export interface ProduceStats {
  readonly stream: string;
  readonly sent: number;
  /** Kinesis records the lines went in, and their bytes (data and partition keys). */
  readonly records: number;
  readonly recordBytes: number;
  readonly retried: number;
  readonly requests: number;
  readonly durationMs: number;
}

export interface ProduceIo {
  readonly stderr: Writable;
  readonly stdin?: Readable;
  readonly signal?: AbortSignal;
}

export async function produce(options: ProduceOptions, io: ProduceIo): Promise<ProduceStats> {
  const say = (message: string) => io.stderr.write(`ipcount: ${message}\n`);
  const stream =
    'name' in options.stream
      ? options.stream.name
      : (await resolveDeployment(options.stream, options.target)).stream;
  const source = await openLineSource(lineSourceSpec(options.input), {
    ...(io.stdin ? { stdin: io.stdin } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
  });
  const kinesis = createKinesisClient(options.target);
  const producer = new StreamProducer(kinesis, stream, {
    aggregation: options.aggregation ?? DEFAULT_AGGREGATION,
    ...(options.aggregateBytes !== undefined ? { aggregateBytes: options.aggregateBytes } : {}),
    ...(options.lingerMs !== undefined ? { lingerMs: options.lingerMs } : {}),
  });
  const startedAt = Date.now();
  const progress = (final: boolean) => {
    const s = producer.stats();
    const seconds = (Date.now() - startedAt) / 1000;
    say(
      `${final ? 'done: ' : ''}${s.sent} lines on ${stream} (${Math.round(s.sent / Math.max(seconds, 0.001))}/s) ` +
        `in ${s.records} records, ${s.retried} records retried, ${s.requests} requests`,
    );
  };
  const ticker = setInterval(() => progress(false), options.progressIntervalMs ?? 2_000);
  try {
    // Ctrl-C stops reading: lines already read are still put, then everything is flushed.
    for await (const line of source.lines()) {
      await producer.put(line);
    }
    // Ctrl-C or end of input: what was read is sent before exiting.
    const stats = await producer.flush();
    const result = {
      stream,
      sent: stats.sent,
      records: stats.records,
      recordBytes: stats.recordBytes,
      retried: stats.retried,
      requests: stats.requests,
      durationMs: Date.now() - startedAt,
    };
    progress(true);
    return result;
  } finally {
    clearInterval(ticker);
    await source.close();
    kinesis.destroy();
  }
}
