import type { Writable } from 'node:stream';
import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import { emitDependencies, foldDependencies } from '../../functions/config.js';
import { formatAlertLine } from '../../shared/alert.js';
import { emitDueWindows } from '../../shared/emit-due-windows.js';
import { EMIT_SERVICE } from '../../shared/metric-names.js';
import { type GivenUpBatch, parseOnFailureMessage } from '../../shared/on-failure.js';
import { type RedriveOutcome, redriveBatch } from '../../shared/redrive.js';
import { compareResults, formatResultLine, type WindowResult } from '../../shared/result.js';
import { compareSequence } from '../../shared/sequence.js';
import type { PipelineSettings } from '../../shared/settings.js';
import { type AwsTarget, createDocumentClient, createKinesisClient } from '../../shared/store/clients.js';
import {
  type OnFailureQueue,
  type QueuedMessage,
  SqsOnFailureQueue,
  TableOnFailureQueue,
} from '../../shared/store/on-failure-queue.js';
import { SettingsStore } from '../../shared/store/settings-store.js';
import { type ResourceNames, resourceNames, STACK_OUTPUTS } from '../../shared/tables.js';
import {
  type DeploymentRef,
  namesFromOutputs,
  settingsFromOutputs,
  stackOutputs,
} from '../aws/deployment.js';
import { dataDirOwner, emulatorTarget, startEmulators } from '../aws/emulators.js';
import { environmentFor } from '../lambda/pipeline.js';

/**
 * `ipcount redrive`: folds the batches the event source gave up, from the on-failure queue, exactly once
 * (shared/redrive.ts), deleting each message only once its range is folded; reports what the stream no longer
 * holds as lost. On a stopped data dir it also runs the emitter, so the corrected windows are emitted (as
 * updates) before it exits; a running run or a stack emits them on its own schedule.
 */
export interface RedriveOptions {
  readonly dataDir?: string;
  readonly target: AwsTarget;
  readonly deployment: DeploymentRef;
}

export interface RedriveIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
}

export interface RedriveSummary {
  readonly messages: number;
  readonly outcomes: readonly RedriveOutcome[];
  /** Messages that could not be read or folded: kept in the queue. */
  readonly kept: number;
  readonly lost: number;
  readonly updates: readonly WindowResult[];
}

interface Deployment {
  readonly kinesis: AwsTarget;
  readonly dynamo: AwsTarget;
  readonly names: ResourceNames;
  readonly queueUrl?: string;
  readonly settings?: PipelineSettings;
  /** Nobody else emits (a stopped data dir): redrive runs the emitter itself. */
  readonly emits: boolean;
  /** Emitter passes begun before this ran in a process that is gone (a stopped data dir's). */
  readonly passesDeadBefore?: number;
  stop(): Promise<void>;
}

async function openDeployment(options: RedriveOptions, note: (m: string) => void): Promise<Deployment> {
  const ref = options.deployment;
  if (options.dataDir !== undefined) {
    const names = resourceNames('prefix' in ref ? ref.prefix : 'ipcount');
    const owner = dataDirOwner(options.dataDir);
    if (owner) {
      note(
        `data dir in use by a running ipcount (pid ${owner.pid}): redriving through it; it emits the updates`,
      );
      return {
        kinesis: emulatorTarget(owner.kinesisEndpoint),
        dynamo: emulatorTarget(owner.dynamoEndpoint),
        names,
        emits: false,
        stop: async () => {},
      };
    }
    const emulators = await startEmulators({ dataDir: options.dataDir });
    return {
      kinesis: emulators.kinesis,
      dynamo: emulators.dynamo,
      names,
      emits: true,
      ...(emulators.ownedSince !== undefined ? { passesDeadBefore: emulators.ownedSince } : {}),
      stop: emulators.stop,
    };
  }
  if ('stack' in ref) {
    const outputs = await stackOutputs(options.target, ref.stack);
    const queueUrl = outputs[STACK_OUTPUTS.onFailureQueue];
    const settings = settingsFromOutputs(outputs);
    return {
      kinesis: options.target,
      dynamo: options.target,
      names: namesFromOutputs(outputs, ref.stack),
      ...(queueUrl ? { queueUrl } : {}),
      ...(settings ? { settings } : {}),
      emits: false,
      stop: async () => {},
    };
  }
  return {
    kinesis: options.target,
    dynamo: options.target,
    names: resourceNames(ref.prefix),
    emits: false,
    stop: async () => {},
  };
}

export async function redrive(options: RedriveOptions, io: RedriveIo): Promise<RedriveSummary> {
  const note = (message: string) => io.stderr.write(`ipcount: ${message}\n`);
  const deployment = await openDeployment(options, note);
  const doc = createDocumentClient(deployment.dynamo);
  const kinesis = createKinesisClient(deployment.kinesis);
  const sqs = deployment.queueUrl ? new SQSClient({ ...deployment.kinesis }) : undefined;
  try {
    const { names } = deployment;
    const settings =
      deployment.settings ?? (await new SettingsStore(doc, names.shardState, names.stream).get());
    if (!settings)
      throw new Error(
        `no settings found for ${names.stream}: redrive folds with the pipeline's own settings (a data dir or a stack with --stack publishes them)`,
      );
    const queue: OnFailureQueue =
      sqs && deployment.queueUrl
        ? new SqsOnFailureQueue(sqs, deployment.queueUrl)
        : new TableOnFailureQueue(doc, names.shardState, names.stream);
    const fold = foldDependencies(environmentFor(names, settings, 'fold'), doc, kinesis);

    const received = await queue.receiveAll();
    note(`${received.length} message${received.length === 1 ? '' : 's'} in ${queue.description}`);
    const batches: { message: QueuedMessage; batch: GivenUpBatch }[] = [];
    let kept = 0;
    for (const message of received) {
      try {
        batches.push({ message, batch: parseOnFailureMessage(message.body) });
      } catch (error) {
        kept++;
        note(`kept a message that is not a Kinesis on-failure message (${(error as Error).message})`);
      }
    }
    // Oldest first within a shard: an in-order range then moves the position past the next one's start.
    batches.sort(
      (a, b) =>
        (a.batch.shardId < b.batch.shardId ? -1 : a.batch.shardId > b.batch.shardId ? 1 : 0) ||
        compareSequence(a.batch.startSequenceNumber, b.batch.startSequenceNumber),
    );
    const outcomes: RedriveOutcome[] = [];
    // A shard whose message could not be folded waits: its later ranges are folded in order after it.
    const held = new Set<string>();
    for (const { message, batch } of batches) {
      const range = `${batch.shardId} ${batch.startSequenceNumber}…${batch.endSequenceNumber}`;
      if (held.has(batch.shardId)) {
        kept++;
        note(`${range}: kept, after an earlier range of its shard; run ipcount redrive again`);
        continue;
      }
      try {
        const outcome = await redriveBatch(fold, batch, Date.now());
        await queue.delete(message);
        outcomes.push(outcome);
        note(describeOutcome(outcome, range));
      } catch (error) {
        kept++;
        held.add(batch.shardId);
        note(`${range}: not folded, message kept (${(error as Error).message}); run ipcount redrive again`);
      }
    }

    const updates: WindowResult[] = [];
    if (deployment.emits && outcomes.length > 0) {
      // A corrected window that reaches the alert threshold raises its alert here, as the emitter would.
      const emit = emitDependencies(environmentFor(names, settings, 'emit'), doc, kinesis, (alerts) => {
        io.stdout.write(`${alerts.map((a) => formatAlertLine(a, settings.timeZone)).join('\n')}\n`);
      });
      const logger = new Logger({ serviceName: EMIT_SERVICE, logLevel: 'ERROR' });
      // The data of a bounded run (its idle rule off): its input had ended, so every window is due, as at
      // its end. A live run's data closes its windows by watermark and the idle rule.
      const endOfInput = settings.idleTimeoutSeconds === 'off';
      for (let pass = 0; pass < 20; pass++) {
        const report = await emitDueWindows(
          {
            ...emit,
            ...(deployment.passesDeadBefore !== undefined
              ? { passesDeadBefore: deployment.passesDeadBefore }
              : {}),
            publish: (results) => void updates.push(...results),
          },
          Date.now(),
          { endOfInput },
        );
        if (report.skipped === 0) break;
        logger.debug('windows moved while emitting; another pass', { skipped: report.skipped });
      }
      const printed = updates.filter((r) => r.count > 0).sort(compareResults);
      if (printed.length > 0)
        io.stdout.write(`${printed.map((r) => formatResultLine(r, settings.timeZone)).join('\n')}\n`);
    } else if (outcomes.length > 0) {
      note('the corrected windows are re-emitted, as updates, by the emitter of that deployment');
    }
    const lost = outcomes.reduce((sum, o) => sum + o.lost, 0);
    const counted = outcomes.reduce((sum, o) => sum + o.counted, 0);
    note(
      `redrive: ${outcomes.length} batch${outcomes.length === 1 ? '' : 'es'} done, ${counted} records counted` +
        (lost > 0 ? `, ${lost} LOST (no longer on the stream: past its retention)` : '') +
        (kept > 0 ? `, ${kept} message${kept === 1 ? '' : 's'} kept in the queue` : ''),
    );
    return { messages: received.length, outcomes, kept, lost, updates };
  } finally {
    doc.destroy();
    kinesis.destroy();
    sqs?.destroy();
    await deployment.stop();
  }
}

function describeOutcome(o: RedriveOutcome, range: string): string {
  const lost = o.lost > 0 ? `; ${o.lost} records LOST (trimmed from the stream by its retention)` : '';
  const tally = `${o.counted} counted, ${o.alreadyCounted} already counted, ${o.bad} bad, ${o.late} late`;
  switch (o.way) {
    case 'healed':
      return `${range}: already folded by the next batch of its shard${lost}`;
    case 'committed':
      return `${range}: already folded by its own batch, which was given up after its commit${lost}`;
    case 'in-order':
      return `${range}: folded in its shard's order (${tally})${lost}`;
    case 'skipped':
      return `${range}: folded after later records of its shard (${tally}; lateness judged within the range)${lost}`;
  }
}
