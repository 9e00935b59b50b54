import { createRequire } from 'node:module';
import { BroadcastChannel } from 'node:worker_threads';
import type { EmulatorWorkerHooks } from '../../../local/aws/emulator-worker.js';

/**
 * Emulator hooks (startEmulators' workerHooks): kinesalite's first batch of records (the first PutRecords)
 * is not committed to its LevelDB until released: `{ kind: 'held' }` on the HOLD_CHANNEL says a put waits on
 * its commit, `{ kind: 'release' }` sent there commits it. What a slow commit on a busy CI runner does.
 * kinesalite's levelup is patched in the emulator thread, the only one where kinesalite runs.
 */
export const HOLD_CHANNEL = 'ipcount-test-hold-first-record-batch';

type Batch = (...args: unknown[]) => unknown;

const holdFirstRecordBatch: EmulatorWorkerHooks = () => {
  const kinesaliteRequire = createRequire(createRequire(import.meta.url).resolve('kinesalite'));
  const levelup = kinesaliteRequire('levelup') as { prototype: { batch: Batch } };
  const originalBatch = levelup.prototype.batch;
  const channel = new BroadcastChannel(HOLD_CHANNEL);
  channel.unref();
  let released = false;
  let commit: (() => void) | undefined;
  let holding = true;
  channel.onmessage = (event) => {
    if ((event as { data: { kind: string } }).data.kind !== 'release') return;
    released = true;
    commit?.();
  };
  levelup.prototype.batch = function (this: unknown, ...args: unknown[]) {
    const [ops] = args;
    const isRecordBatch =
      Array.isArray(ops) &&
      ops.some(
        (op) =>
          (op as { value?: { ApproximateArrivalTimestamp?: number } })?.value?.ApproximateArrivalTimestamp,
      );
    if (!holding || !isRecordBatch) return originalBatch.apply(this, args);
    holding = false;
    let committed = false;
    commit = () => {
      if (!committed) originalBatch.apply(this, args);
      committed = true;
    };
    channel.postMessage({ kind: 'held' });
    if (released) commit();
    return undefined;
  };
};
export default holdFirstRecordBatch;
