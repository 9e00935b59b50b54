import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { AwsTarget } from '../../shared/store/clients.js';
import { EMULATOR_CREDENTIALS } from '../../shared/store/emulator-credentials.js';
import type { EmulatorWorkerCommand, EmulatorWorkerData, EmulatorWorkerReport } from './emulator-worker.js';

/**
 * Kinesis and DynamoDB, embedded: kinesalite and dynalite served on loopback from one worker thread of this
 * process (emulator-worker.ts), beside the thread of the handlers, SDK clients and producer rather than on it.
 * Any AWS client can use them by endpoint while a run is going (the AWS CLI with --endpoint-url, an SDK,
 * this CLI's query).
 */
export interface EmulatorOptions {
  /**
   * Keep their data here between runs (LevelDB); in memory when absent, where a long replay's user trims what
   * it is done with (see early-retention.ts). Measured both ways, memory is also the leaner for a replay:
   * LevelDB's table files, mapped into memory, grew faster than the tables they hold.
   */
  readonly dataDir?: string;
  readonly host?: string;
  readonly kinesisPort?: number;
  readonly dynamoPort?: number;
  /**
   * Test-only: a module the emulator thread imports before serving, whose default export gets both servers
   * (EmulatorWorkerHooks). IPCOUNT_EMULATOR_HOOKS names one for a test of the CLI binary.
   */
  readonly workerHooks?: string;
}

export interface Emulators {
  readonly kinesis: AwsTarget & { endpoint: string };
  readonly dynamo: AwsTarget & { endpoint: string };
  /** The emulator thread's id: never the main thread's 0. */
  readonly threadId: number;
  /**
   * When this process took the data dir (no other process can hold it while it does): an emitter pass begun
   * before then was run by a process that is gone. Undefined without a data dir.
   */
  readonly ownedSince?: number;
  /**
   * Rejects if the emulator thread dies before stop(), and never resolves: work raced against it ends with
   * the reason instead of waiting on retries against endpoints that are gone.
   */
  readonly failed: Promise<never>;
  /** Closes both servers (and their LevelDB) in the emulator thread, ends the thread, frees the data dir. */
  stop(): Promise<void>;
  /**
   * Deletes a shard's records before a sequence number, as the stream's retention would in time: for a run
   * whose folds are done with them and that nothing will read again (no data dir). Resolves to how many.
   */
  trimStream(streamName: string, shardId: string, beforeSequence: string): Promise<number>;
}

/** Written into a data dir while emulators serve it: who holds it, and where it can be reached. */
const OWNER_FILE = 'ipcount-owner.json';

/** An emulator at an endpoint, as the SDK clients take it: any region and credentials do. */
export function emulatorTarget(endpoint: string) {
  return { endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS };
}

export interface DataDirOwner {
  readonly pid: number;
  readonly kinesisEndpoint: string;
  readonly dynamoEndpoint: string;
}

/**
 * The live process serving a data dir, if any. LevelDB allows one process per data dir (a second open
 * fails inside the emulators, beyond a clean error), so the owner is asked for first.
 */
export function dataDirOwner(dir: string): DataDirOwner | undefined {
  let owner: DataDirOwner;
  try {
    owner = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as DataDirOwner;
  } catch {
    return undefined;
  }
  if (owner.pid === process.pid) return owner;
  try {
    process.kill(owner.pid, 0);
    return owner;
  } catch (error) {
    // EPERM: alive but another user's; ESRCH: gone, and the file is stale.
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? owner : undefined;
  }
}

/** A second process on a data dir is refused with the owner's endpoint, before anything else starts. */
export function assertDataDirFree(dir: string): void {
  const owner = dataDirOwner(dir);
  if (owner)
    throw new Error(
      `data dir ${dir} is in use by ipcount (pid ${owner.pid}); while it runs, reach it at --endpoint ${owner.dynamoEndpoint}`,
    );
}

/** The worker's module beside this one: from .ts sources through a tsx bootstrap, built .js as it is. */
function emulatorWorkerModule(): URL {
  return new URL(import.meta.url).pathname.endsWith('.ts')
    ? new URL('./emulator-worker-tsx.mjs', import.meta.url)
    : new URL('./emulator-worker.js', import.meta.url);
}

type Listening = Extract<EmulatorWorkerReport, { kind: 'listening' }>;

export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  const host = options.host ?? '127.0.0.1';
  const dir = options.dataDir;
  if (dir) {
    assertDataDirFree(dir);
    mkdirSync(join(dir, 'kinesis'), { recursive: true });
    mkdirSync(join(dir, 'dynamodb'), { recursive: true });
  }
  const hooks = options.workerHooks ?? process.env.IPCOUNT_EMULATOR_HOOKS;
  const data: EmulatorWorkerData = {
    host,
    kinesisPort: options.kinesisPort ?? 0,
    dynamoPort: options.dynamoPort ?? 0,
    ...(dir ? { kinesisPath: join(dir, 'kinesis'), dynamoPath: join(dir, 'dynamodb') } : {}),
    ...(hooks ? { hooks: pathToFileURL(resolve(hooks)).href } : {}),
  };
  // No execArgv of the parent's: the worker needs none, and the bootstrap registers tsx itself.
  const worker = new Worker(emulatorWorkerModule(), { workerData: data, execArgv: [] });

  let stopping = false;
  let dead = false;
  let onStopped: (() => void) | undefined;
  let died!: (error: Error) => void;
  const failed = new Promise<never>((_, reject) => {
    died = reject;
  });
  // Whoever races it handles its rejection; unraced, it is not an unhandled one.
  failed.catch(() => {});
  const lost = (error: Error) => {
    dead = true;
    if (stopping) onStopped?.();
    else died(error);
  };
  worker.once('error', (error) => lost(new Error(`the emulator thread failed: ${error.message}`)));
  worker.once('exit', (code) => lost(new Error(`the emulator thread exited (code ${code})`)));

  const trims = new Map<number, { resolve: (records: number) => void; reject: (error: Error) => void }>();
  let nextTrim = 0;
  const listening = new Promise<Listening>((resolveListening, reject) => {
    worker.on('message', (report: EmulatorWorkerReport) => {
      if (report.kind === 'listening') resolveListening(report);
      else if (report.kind === 'refused') reject(new Error(report.message));
      else if (report.kind === 'trimmed') {
        const pending = trims.get(report.id);
        trims.delete(report.id);
        if (report.error !== undefined) pending?.reject(new Error(report.error));
        else pending?.resolve(report.records);
      } else onStopped?.();
    });
    failed.catch(reject);
  });
  const stopWorker = async () => {
    for (const pending of trims.values()) pending.resolve(0);
    trims.clear();
    if (!stopping && !dead) {
      stopping = true;
      const stopped = new Promise<void>((r) => {
        onStopped = r;
      });
      worker.postMessage({ kind: 'stop' } satisfies EmulatorWorkerCommand);
      await stopped;
    }
    await worker.terminate();
  };

  let ports: Listening;
  try {
    ports = await listening;
  } catch (error) {
    stopping = true;
    await worker.terminate();
    throw error;
  }
  const kinesis = emulatorTarget(`http://${host}:${ports.kinesisPort}`);
  const dynamo = emulatorTarget(`http://${host}:${ports.dynamoPort}`);
  const ownerFile = dir ? join(dir, OWNER_FILE) : undefined;
  const ownedSince = ownerFile ? Date.now() : undefined;
  if (ownerFile) {
    const owner: DataDirOwner = {
      pid: process.pid,
      kinesisEndpoint: kinesis.endpoint,
      dynamoEndpoint: dynamo.endpoint,
    };
    writeFileSync(ownerFile, `${JSON.stringify(owner)}\n`);
  }
  let stopped: Promise<void> | undefined;
  return {
    kinesis,
    dynamo,
    threadId: ports.threadId,
    ...(ownedSince !== undefined ? { ownedSince } : {}),
    failed,
    trimStream: (streamName, shardId, beforeSequence) => {
      if (stopping || dead) return Promise.resolve(0);
      const id = nextTrim++;
      const done = new Promise<number>((resolve, reject) => trims.set(id, { resolve, reject }));
      worker.postMessage({
        kind: 'trim',
        id,
        streamName,
        shardId,
        beforeSequence,
      } satisfies EmulatorWorkerCommand);
      return Promise.race([done, failed]);
    },
    stop: () => {
      stopped ??= stopWorker().finally(() => {
        if (ownerFile) rmSync(ownerFile, { force: true });
      });
      return stopped;
    },
  };
}
