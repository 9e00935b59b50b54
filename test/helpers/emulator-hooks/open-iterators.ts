import { createRequire } from 'node:module';
import { BroadcastChannel } from 'node:worker_threads';
import type { EmulatorWorkerHooks } from '../../../local/aws/emulator-worker.js';

/**
 * Emulator hooks (startEmulators' workerHooks): counts the LevelDB iterators the emulators hold open, and
 * answers `{ open }` when asked `{ count: true }` on the OPEN_ITERATORS_CHANNEL.
 */
export const OPEN_ITERATORS_CHANNEL = 'ipcount-test-open-iterators';

const openIterators: EmulatorWorkerHooks = () => {
  const { AbstractLevel } = createRequire(import.meta.url)('abstract-level') as {
    AbstractLevel: { prototype: Record<string, (resource: unknown) => void> };
  };
  const open = new Set<unknown>();
  const { attachResource, detachResource } = AbstractLevel.prototype;
  AbstractLevel.prototype.attachResource = function (resource) {
    open.add(resource);
    return attachResource?.call(this, resource);
  };
  AbstractLevel.prototype.detachResource = function (resource) {
    open.delete(resource);
    return detachResource?.call(this, resource);
  };
  const channel = new BroadcastChannel(OPEN_ITERATORS_CHANNEL);
  channel.unref();
  channel.onmessage = (event) => {
    if ((event as { data: { count?: boolean } }).data.count) channel.postMessage({ open: open.size });
  };
};
export default openIterators;
