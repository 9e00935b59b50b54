import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import dynalite from 'dynalite';
import kinesalite from 'kinesalite';
import { type AwsTarget, EMULATOR_CREDENTIALS } from '../../shared/store/clients.js';

/**
 * Kinesis and DynamoDB, embedded: kinesalite and dynalite served in this process on loopback. Any AWS client
 * can use them by endpoint while a run is going (the AWS CLI with --endpoint-url, an SDK, this CLI's query).
 */
export interface EmulatorOptions {
  /** Keep their data here between runs (LevelDB); in memory when absent. */
  readonly dataDir?: string;
  readonly host?: string;
  readonly kinesisPort?: number;
  readonly dynamoPort?: number;
}

export interface Emulators {
  readonly kinesis: AwsTarget & { endpoint: string };
  readonly dynamo: AwsTarget & { endpoint: string };
  stop(): Promise<void>;
}

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

async function close(server: Server): Promise<void> {
  server.closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export const EMULATOR_SHARD_LIMIT = 1024;

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

export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  const host = options.host ?? '127.0.0.1';
  const dir = options.dataDir;
  if (dir) {
    assertDataDirFree(dir);
    mkdirSync(join(dir, 'kinesis'), { recursive: true });
    mkdirSync(join(dir, 'dynamodb'), { recursive: true });
  }
  const kinesisServer = kinesalite({
    // kinesalite's default account limit is 10 open shards; the CLI allows 64 per stream, a split adds one,
    // and a data dir may hold several prefixes' streams.
    shardLimit: EMULATOR_SHARD_LIMIT,
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    ...(dir ? { path: join(dir, 'kinesis') } : {}),
  });
  const dynamoServer = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(dir ? { path: join(dir, 'dynamodb') } : {}),
  });
  const started: Server[] = [];
  try {
    const kinesisPort = await listen(kinesisServer, options.kinesisPort ?? 0, host, 'Kinesis emulator');
    started.push(kinesisServer);
    const dynamoPort = await listen(dynamoServer, options.dynamoPort ?? 0, host, 'DynamoDB emulator');
    started.push(dynamoServer);
    const kinesis = emulatorTarget(`http://${host}:${kinesisPort}`);
    const dynamo = emulatorTarget(`http://${host}:${dynamoPort}`);
    const ownerFile = dir ? join(dir, OWNER_FILE) : undefined;
    if (ownerFile) {
      const owner: DataDirOwner = {
        pid: process.pid,
        kinesisEndpoint: kinesis.endpoint,
        dynamoEndpoint: dynamo.endpoint,
      };
      writeFileSync(ownerFile, `${JSON.stringify(owner)}\n`);
    }
    return {
      kinesis,
      dynamo,
      stop: async () => {
        await Promise.all([close(kinesisServer), close(dynamoServer)]);
        if (ownerFile) rmSync(ownerFile, { force: true });
      },
    };
  } catch (error) {
    await Promise.all(started.map(close));
    throw error;
  }
}
