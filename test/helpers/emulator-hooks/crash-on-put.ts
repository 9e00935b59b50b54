import type { EmulatorWorkerHooks } from '../../../local/aws/emulator-worker.js';

/**
 * Emulator hooks (startEmulators' workerHooks): the emulator thread dies, by an uncaught exception, at the
 * first PutRecords it is sent: how a crash of the emulators mid-run looks to their callers.
 */
export const CRASH_MESSAGE = 'emulator crash injected by a test at the first PutRecords';

const crashOnPut: EmulatorWorkerHooks = ({ kinesis }) => {
  kinesis.on('request', (request) => {
    if (String(request.headers['x-amz-target']).endsWith('.PutRecords'))
      setImmediate(() => {
        throw new Error(CRASH_MESSAGE);
      });
  });
};
export default crashOnPut;
