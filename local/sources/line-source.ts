import { open } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Readable } from 'node:stream';
import { readLines } from './line-reader.js';
import { type LogServiceOptions, startLogService } from './log-service.js';

/**
 * Where lines come from, for `ipcount run` and `ipcount produce` alike: a file, stdin, a TCP log service,
 * the built-in log service, or nothing (`run --serve`: the lines arrive on the stream from outside).
 */
export type LineSourceSpec =
  | { readonly kind: 'file'; readonly path: string }
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
 * localhost:9999), anything else a file. A URL of another scheme is an error, not a file name.
 */
export function lineSourceSpec(input: string | undefined): LineSourceSpec {
  if (input === undefined || input === '-') return { kind: 'stdin' };
  const tcp = TCP_SOURCE.exec(input);
  if (tcp) return { kind: 'tcp', host: (tcp[1] ?? '').replace(/^\[|\]$/g, ''), port: Number(tcp[2]) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input))
    throw new Error(`must be a file, '-' (stdin) or tcp://host:port, got ${input}`);
  return { kind: 'file', path: input };
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

/** A file is opened and checked now, so a missing file or a directory is a clear error before anything starts. */
async function openFile(path: string): Promise<{ stream: Readable; size: number }> {
  let handle: Awaited<ReturnType<typeof open>>;
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
  return { stream: handle.createReadStream(), size: stat.isFile() ? stat.size : Number.NaN };
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
  totalBytes?: number,
): LineSource {
  const stop = stopSignal(io);
  let bytesRead = 0;
  return {
    description,
    lines: () => {
      stop.start();
      return readLines(stream, { signal: stop.signal, onBytes: (n) => (bytesRead += n) });
    },
    position: () => ({ bytesRead, ...(totalBytes !== undefined ? { totalBytes } : {}) }),
    close: once(async () => {
      stop.clear();
      await release();
    }),
  };
}

export async function openLineSource(spec: LineSourceSpec, io: LineSourceIo = {}): Promise<LineSource> {
  switch (spec.kind) {
    case 'file': {
      const { stream, size } = await openFile(spec.path);
      return streamSource(
        stream,
        io,
        spec.path,
        async () => {
          stream.destroy();
        },
        Number.isFinite(size) ? size : undefined,
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
