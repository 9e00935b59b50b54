import { BroadcastChannel } from 'node:worker_threads';
import type { EmulatorWorkerHooks } from '../../../local/aws/emulator-worker.js';

/**
 * Emulator hooks (startEmulators' workerHooks): told `{ busyMs }` on the BUSY_CHANNEL, the emulator thread
 * answers `{ busy: threadId }` and then computes for that long, serving nothing, as under a heavy load.
 */
export const BUSY_CHANNEL = 'ipcount-test-emulator-busy';

const busy: EmulatorWorkerHooks = () => {
  const channel = new BroadcastChannel(BUSY_CHANNEL);
  channel.unref();
  channel.onmessage = (event) => {
    const { busyMs } = (event as { data: { busyMs?: number } }).data;
    if (busyMs === undefined) return;
    channel.postMessage({ busy: true });
    const until = Date.now() + busyMs;
    while (Date.now() < until);
  };
};
export default busy;
