import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Environment, emitDependencies, foldDependencies } from '../../functions/config.js';
import { type Emulators, startEmulators } from '../../local/aws/emulators.js';
import { provision } from '../../local/aws/provision.js';
import { functionEnvironment } from '../../local/lambda/pipeline.js';
import type { EmitDependencies } from '../../shared/emit-due-windows.js';
import type { FoldDependencies } from '../../shared/fold-shard-batch.js';
import { resolveSettings } from '../../shared/settings.js';
import { createDocumentClient, createDynamoClient, createKinesisClient } from '../../shared/store/clients.js';
import { ResultStore } from '../../shared/store/result-store.js';
import { type ResourceNames, resourceNames } from '../../shared/tables.js';

/**
 * Real emulators on free ports, with the stream and tables created from the shared definitions under a
 * fresh prefix, and the dependencies the functions build from their environment.
 */
export interface TestStack {
  readonly emulators: Emulators;
  readonly doc: DynamoDBDocumentClient;
  /** A client of the stack's Kinesis: the stream the fold and emitter read directly. */
  readonly kinesis: KinesisClient;
  readonly prefix: string;
  readonly names: ResourceNames;
  /** The environment the stack's functions would get (what fold and emit were built from). */
  readonly env: Environment;
  readonly fold: FoldDependencies;
  readonly emit: EmitDependencies;
  /** The results as users query them. */
  readonly results: ResultStore;
  stop(): Promise<void>;
}

let counter = 0;

export async function startTestStack(
  options: { shards?: number; maxDisorderSeconds?: number } = {},
): Promise<TestStack> {
  const emulators = await startEmulators();
  const prefix = `t${process.pid}x${counter++}`;
  const names = resourceNames(prefix);
  const kinesis = createKinesisClient(emulators.kinesis);
  const dynamo = createDynamoClient(emulators.dynamo);
  await provision(kinesis, dynamo, names, options.shards ?? 2, prefix);
  dynamo.destroy();
  const doc = createDocumentClient(emulators.dynamo);
  const settings = resolveSettings({ maxDisorderSeconds: options.maxDisorderSeconds });
  // Both functions' variables in one environment, as the handlers under test each read theirs.
  const env = {
    ...functionEnvironment(prefix, settings, 'fold'),
    ...functionEnvironment(prefix, settings, 'emit'),
  };
  return {
    emulators,
    doc,
    kinesis,
    prefix,
    names,
    env,
    fold: foldDependencies(env, doc, kinesis),
    emit: emitDependencies(env, doc, kinesis),
    results: new ResultStore(doc, names.windows),
    stop: async () => {
      doc.destroy();
      kinesis.destroy();
      await emulators.stop();
    },
  };
}
