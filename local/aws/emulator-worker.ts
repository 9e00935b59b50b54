import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';
import kinesalite from 'kinesalite';

/**
 * The emulator thread: kinesalite and dynalite served from one worker, so their request handling and
 * LevelDB work run beside the handlers' thread instead of taking turns with it. startEmulators (emulators.ts)
 * starts it and speaks the messages below.
 */
export interface EmulatorWorkerData {
  readonly host: string;
  readonly kinesisPort: number;
  readonly dynamoPort: number;
  /** LevelDB folders; in memory when absent. */
  readonly kinesisPath?: string;
  readonly dynamoPath?: string;
  /** A test-only module (file URL) imported here before serving; see EmulatorWorkerHooks. */
  readonly hooks?: string;
}

/** Worker → parent. */
export type EmulatorWorkerReport =
  | { readonly kind: 'trimmed'; readonly id: number; readonly records: number; readonly error?: string }
  | {
      readonly kind: 'listening';
      readonly kinesisPort: number;
      readonly dynamoPort: number;
      threadId: number;
    }
  | { readonly kind: 'refused'; readonly message: string }
  | { readonly kind: 'stopped' };

/** Parent → worker. */
export type EmulatorWorkerCommand =
  | { readonly kind: 'stop' }
  | {
      readonly kind: 'trim';
      readonly id: number;
      readonly streamName: string;
      readonly shardId: string;
      /** Records before this sequence number go (unpadded, as Kinesis writes it). */
      readonly beforeSequence: string;
    };

/**
 * kinesalite's store, as its module makes it: no API of Kinesis deletes records before their retention
 * ends, so a long local replay trims what its folds are done with straight from the store (see trim()).
 */
interface KinesaliteStore {
  getStreamDb(name: string): {
    createKeyStream(range: { gte: string; lt: string }): NodeJS.ReadableStream;
    batch(ops: { type: 'del'; key: string }[], callback: (error?: Error) => void): void;
  };
}
interface KinesaliteDb {
  create(options: unknown): KinesaliteStore;
  shardIxToHex(shardIx: number): string;
}
const requireHere = createRequire(import.meta.url);
const kinesaliteDb = requireHere('kinesalite/db/index.js') as KinesaliteDb;
let kinesisStore: KinesaliteStore | undefined;
const createStore = kinesaliteDb.create;
kinesaliteDb.create = (options) => {
  kinesisStore = createStore(options);
  return kinesisStore;
};

/**
 * LevelDB maps the table files it has open into memory, and keeps up to 1,000 open: a long run's growing
 * files would count in its resident memory however little of them it reads. Both emulators' stores open at
 * most this many (kinesalite's leveldown and dynalite's classic-level).
 */
const MAX_OPEN_FILES = 40;
const leveldown = requireHere('leveldown') as { prototype: Record<string, unknown> };
const { ClassicLevel } = requireHere('classic-level') as {
  ClassicLevel: { prototype: Record<string, unknown> };
};
for (const proto of [leveldown.prototype, ClassicLevel.prototype]) {
  const open = proto._open;
  if (typeof open === 'function')
    proto._open = function (this: unknown, options: Record<string, unknown>, ...rest: unknown[]) {
      return open.call(this, { ...options, maxOpenFiles: MAX_OPEN_FILES }, ...rest);
    };
}

/**
 * dynalite reads a Query or Scan through a stream over a LevelDB iterator, and ends a limited one early by
 * destroying the stream, which calls the iterator's `return()`: abstract-level's iterators have `close()`
 * instead, so each such read left its iterator open, registered with the database and holding a snapshot
 * of it. A long run leaked hundreds (a replay's memory grew with its input, on disk and in memory alike).
 */
for (const store of ['memory-level', 'classic-level']) {
  // The abstract-level each store is built on, wherever the install put it.
  const { AbstractIterator } = createRequire(requireHere.resolve(store))('abstract-level') as {
    AbstractIterator: { prototype: Record<string, unknown> };
  };
  const iteratorBase = Object.getPrototypeOf(AbstractIterator.prototype) as Record<string, unknown>;
  if (typeof iteratorBase.return !== 'function')
    iteratorBase.return = function (this: { close(): Promise<void> }) {
      return this.close();
    };
}

/** Deletes a shard's records before a sequence number (kinesalite keys them `<shard index hex>/<sequence>`). */
async function trim(command: Extract<EmulatorWorkerCommand, { kind: 'trim' }>): Promise<number> {
  if (!kinesisStore) return 0;
  const shardIx = Number(/(\d+)$/.exec(command.shardId)?.[1]);
  if (!Number.isSafeInteger(shardIx)) return 0;
  const db = kinesisStore.getStreamDb(command.streamName);
  const prefix = `${kinesaliteDb.shardIxToHex(shardIx)}/`;
  const keys: string[] = [];
  for await (const key of db.createKeyStream({ gte: prefix, lt: prefix + command.beforeSequence }))
    keys.push(String(key));
  if (keys.length === 0) return 0;
  await new Promise<void>((resolve, reject) =>
    db.batch(
      keys.map((key) => ({ type: 'del', key })),
      (error?: Error) => (error ? reject(error) : resolve()),
    ),
  );
  return keys.length;
}

/**
 * A hooks module's default export: called with both servers before they listen, in the emulators' thread,
 * so a test can reach their internals (a delayed commit, a crash) as it could when they shared its thread.
 */
export type EmulatorWorkerHooks = (servers: { kinesis: Server; dynamo: Server }) => void | Promise<void>;

export const EMULATOR_SHARD_LIMIT = 1024;

async function listen(server: Server, port: number, host: string, what: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE' ? new Error(`${what} port ${port} on ${host} is already in use`) : error,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** Closes a server and (kinesalite and dynalite wrap close) its LevelDB, so the folder is free again. */
async function close(server: Server): Promise<void> {
  server.closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function serve(data: EmulatorWorkerData, port: NonNullable<typeof parentPort>): Promise<void> {
  const report = (message: EmulatorWorkerReport) => port.postMessage(message);
  const kinesis = kinesalite({
    // kinesalite's default account limit is 10 open shards; the CLI allows 64 per stream, a split adds one,
    // and a data dir may hold several prefixes' streams.
    shardLimit: EMULATOR_SHARD_LIMIT,
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    ...(data.kinesisPath ? { path: data.kinesisPath } : {}),
  });
  const dynamo = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(data.dynamoPath ? { path: data.dynamoPath } : {}),
  });
  if (data.hooks) {
    const hooks = (await import(data.hooks)) as { default?: EmulatorWorkerHooks };
    await hooks.default?.({ kinesis, dynamo });
  }
  const started: Server[] = [];
  const stop = async () => {
    await Promise.all(started.map(close));
    started.length = 0;
  };
  try {
    const kinesisPort = await listen(kinesis, data.kinesisPort, data.host, 'Kinesis emulator');
    started.push(kinesis);
    const dynamoPort = await listen(dynamo, data.dynamoPort, data.host, 'DynamoDB emulator');
    started.push(dynamo);
    port.on('message', (command: EmulatorWorkerCommand) => {
      if (command.kind === 'stop') void stop().then(() => report({ kind: 'stopped' }));
      else
        trim(command).then(
          (records) => report({ kind: 'trimmed', id: command.id, records }),
          (error: Error) => report({ kind: 'trimmed', id: command.id, records: 0, error: error.message }),
        );
    });
    report({ kind: 'listening', kinesisPort, dynamoPort, threadId });
  } catch (error) {
    // A refused listen is the caller's error (a port in use), not the worker's death: reported, then done.
    await stop();
    report({ kind: 'refused', message: (error as Error).message });
  }
}

// Imported for its types only anywhere else; as a worker's module, it serves.
if (parentPort) await serve(workerData as EmulatorWorkerData, parentPort);
