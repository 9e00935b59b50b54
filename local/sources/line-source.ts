import { type FileHandle, open } from 'node:fs/promises';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { readLines } from './line-reader.js';
import { type LogServiceOptions, startLogService } from './log-service.js';

/**
 * Where lines come from, for `ipcount run` and `ipcount produce` alike: a file, stdin, a TCP log service,
 * the built-in log service, or nothing (`run --serve`: the lines arrive on the stream from outside).
 */
export type LineSourceSpec =
  /** One file, or several read in order as one input; each gzipped or not, as its first bytes say. */
  | { readonly kind: 'file'; readonly paths: readonly string[] }
  | { readonly kind: 'stdin' }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | ({ readonly kind: 'log-service' } & LogServiceOptions)
  | { readonly kind: 'none' };

export interface LineSource {
  /** Made on first use: reading starts then, so no line is read before someone iterates. */
  lines(): AsyncIterable<string>;
  /** Bytes read so far and, for a file, its size: what a progress line's ETA is made of. */
  position(): { readonly bytesRead: number; readonly totalBytes?: number };
  /** Stops reading and releases the source; safe to call more than once. */
  close(): Promise<void>;
  /** What the source is, for the run's first lines (e.g. the log service's port). */
  readonly description: string;
}

export interface LineSourceIo {
  readonly stdin?: Readable;
  /** Stops reading (Ctrl-C): lines already read are still yielded. */
  readonly signal?: AbortSignal;
  /** Stops reading after this long (a live run's --duration). */
  readonly durationMs?: number;
}

const TCP_SOURCE = /^tcp:\/\/([^:/]+|\[[^\]]+\]):(\d{1,5})\/?$/;

/**
 * What `--input` names: `-` is stdin, `tcp://host:port` a log service writing lines (the seed's
 * localhost:9999), anything else a file. A URL of another scheme is an error, not a file name. Several
 * `--input`s must all be files (`access.log.2.gz access.log.1 access.log`), read in that order as one input.
 */
export function lineSourceSpec(input: string | readonly string[] | undefined): LineSourceSpec {
  const inputs = typeof input === 'string' ? [input] : (input ?? []);
  if (inputs.length > 1) {
    const specs = inputs.map((one) => lineSourceSpec(one));
    const notFile = inputs.find((_, i) => specs[i]?.kind !== 'file');
    if (notFile !== undefined)
      throw new Error(`several inputs must all be files; ${notFile} is not (give it as the only --input)`);
    return { kind: 'file', paths: inputs };
  }
  const [one] = inputs;
  if (one === undefined || one === '-') return { kind: 'stdin' };
  const tcp = TCP_SOURCE.exec(one);
  if (tcp) return { kind: 'tcp', host: (tcp[1] ?? '').replace(/^\[|\]$/g, ''), port: Number(tcp[2]) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(one))
    throw new Error(`must be a file, '-' (stdin) or tcp://host:port, got ${one}`);
  return { kind: 'file', paths: [one] };
}

/** What a file source is called in messages: its path, or its paths in reading order. */
export function describeFiles(paths: readonly string[]): string {
  return paths.join(' + ');
}

function once(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= close();
    return closing;
  };
}

/** Aborts when `signal` does, or after `durationMs`. */
function stopSignal(io: LineSourceIo): { signal: AbortSignal; start(): void; clear(): void } {
  const controller = new AbortController();
  io.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  if (io.signal?.aborted) controller.abort();
  let timer: NodeJS.Timeout | undefined;
  return {
    signal: controller.signal,
    start: () => {
      if (io.durationMs !== undefined && !timer) timer = setTimeout(() => controller.abort(), io.durationMs);
    },
    clear: () => {
      if (timer) clearTimeout(timer);
      controller.abort();
    },
  };
}

/** gzip's magic bytes: a file that starts with them is read through gunzip, whatever its name. */
const GZIP_MAGIC = [0x1f, 0x8b];

interface OpenedFile {
  readonly path: string;
  readonly handle: FileHandle;
  readonly size: number;
}

/** A file is opened and checked now, so a missing file or a directory is a clear error before anything starts. */
async function openFile(path: string): Promise<OpenedFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`no such input file: ${path}`);
    if (code === 'EACCES') throw new Error(`input file not readable: ${path}`);
    throw error;
  }
  const stat = await handle.stat();
  if (stat.isDirectory()) {
    await handle.close();
    throw new Error(`input ${path} is a directory, not a file of lines`);
  }
  return { path, handle, size: stat.isFile() ? stat.size : Number.NaN };
}

/**
 * The bytes of the files in order, each gunzipped when its first bytes are gzip's (a rotated
 * `access.log.2.gz`; several gzip members in one file are read as one). `onFileBytes` is told of the bytes
 * read from disk, compressed or not: what a progress line's share of the input is made of.
 */
async function* filesBytes(
  files: readonly OpenedFile[],
  onFileBytes: (bytes: number) => void,
): AsyncGenerator<Buffer> {
  // A file's last line ends with the file, newline or not: it never runs into the next file's first.
  const NEWLINE = Buffer.from('\n');
  let last = 10;
  const track = (chunk: Buffer) => {
    if (chunk.length > 0) last = chunk[chunk.length - 1] ?? 10;
    return chunk;
  };
  for (const { path, handle } of files) {
    if (last !== 10) yield NEWLINE;
    last = 10;
    // Read as a stream from where it is (a named pipe or `<(zcat …)` has no positions to read at), its
    // first bytes peeked to tell gzip.
    const raw = handle.createReadStream({ autoClose: false });
    raw.on('data', (chunk: Buffer | string) => onFileBytes(chunk.length));
    const chunks = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    try {
      let head: Buffer = Buffer.alloc(0);
      while (head.length < GZIP_MAGIC.length) {
        const next = await chunks.next();
        if (next.done) break;
        head = head.length === 0 ? next.value : Buffer.concat([head, next.value]);
      }
      const rest = async function* () {
        if (head.length > 0) yield head;
        for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
      };
      if (!GZIP_MAGIC.every((b, i) => head[i] === b)) {
        for await (const chunk of rest()) yield track(chunk);
        continue;
      }
      const gunzip = Readable.from(rest(), { objectMode: false }).pipe(createGunzip());
      try {
        for await (const chunk of gunzip) yield track(chunk as Buffer);
      } catch (error) {
        throw new Error(`input ${path} is gzipped but cannot be read: ${(error as Error).message}`);
      } finally {
        gunzip.destroy();
      }
    } finally {
      raw.destroy();
    }
  }
}

async function connectTcp(host: string, port: number): Promise<Readable> {
  const socket = connect(port, host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', (error) =>
      reject(new Error(`cannot connect to tcp://${host}:${port}: ${error.message}`)),
    );
  });
  return socket;
}

function streamSource(
  stream: Readable,
  io: LineSourceIo,
  description: string,
  release: () => Promise<void>,
  /** Where the source is, when the bytes read as lines are not the measure (files: see filesBytes). */
  position?: LineSource['position'],
): LineSource {
  const stop = stopSignal(io);
  let bytesRead = 0;
  return {
    description,
    lines: () => {
      stop.start();
      return readLines(stream, {
        signal: stop.signal,
        ...(position ? {} : { onBytes: (n: number) => (bytesRead += n) }),
      });
    },
    position: position ?? (() => ({ bytesRead })),
    close: once(async () => {
      stop.clear();
      await release();
    }),
  };
}

export async function openLineSource(spec: LineSourceSpec, io: LineSourceIo = {}): Promise<LineSource> {
  switch (spec.kind) {
    case 'file': {
      const files: OpenedFile[] = [];
      try {
        for (const path of spec.paths) files.push(await openFile(path));
      } catch (error) {
        await Promise.all(files.map((f) => f.handle.close()));
        throw error;
      }
      const sizes = files.map((f) => f.size);
      const totalBytes = sizes.every(Number.isFinite) ? sizes.reduce((a, b) => a + b, 0) : undefined;
      let fileBytes = 0;
      return streamSource(
        Readable.from(
          filesBytes(files, (n) => (fileBytes += n)),
          { objectMode: false },
        ),
        io,
        describeFiles(spec.paths),
        async () => {
          await Promise.all(files.map((f) => f.handle.close().catch(() => {})));
        },
        // Progress by the bytes read from disk: a gzipped file's share is its compressed size's.
        () => ({ bytesRead: fileBytes, ...(totalBytes !== undefined ? { totalBytes } : {}) }),
      );
    }
    case 'stdin': {
      // close() leaves stdin open (a test's, or the terminal's); only an abort mid-read destroys it.
      return streamSource(io.stdin ?? process.stdin, io, 'stdin', async () => {});
    }
    case 'tcp': {
      const socket = await connectTcp(spec.host, spec.port);
      return streamSource(socket, io, `tcp://${spec.host}:${spec.port}`, async () => {
        socket.destroy();
      });
    }
    case 'log-service': {
      const service = await startLogService(spec);
      const socket = await connectTcp(spec.host, service.port);
      return streamSource(
        socket,
        io,
        `log service on ${spec.host}:${service.port} writing ${spec.ratePerSecond} lines/s over ${spec.ips.length} IPs`,
        async () => {
          socket.destroy();
          await service.stop();
        },
      );
    }
    case 'none': {
      // Nothing to read: the iteration just waits until the run is stopped (Ctrl-C or the duration).
      const stop = stopSignal(io);
      const stopped = new Promise<void>((resolve) => {
        stop.signal.addEventListener('abort', () => resolve(), { once: true });
        if (stop.signal.aborted) resolve();
      });
      stop.start();
      return {
        description: 'the stream (lines put from outside)',
        lines: () => ({
          [Symbol.asyncIterator]: () => ({
            next: async (): Promise<IteratorResult<string>> => {
              await stopped;
              return { done: true, value: undefined };
            },
          }),
        }),
        position: () => ({ bytesRead: 0 }),
        close: once(async () => stop.clear()),
      };
    }
  }
}
