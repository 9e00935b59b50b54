// Plain JavaScript: the binary's emulator thread runs built code without tsx, and loads this as it is.
/**
 * Emulator hooks (startEmulators' workerHooks): the emulator thread dies, by an uncaught exception, at the
 * first PutRecords it is sent: how a crash of the emulators mid-run looks to their callers.
 */
export const CRASH_MESSAGE = 'emulator crash injected by a test at the first PutRecords';

/** @param {{ kinesis: import('node:http').Server }} servers */
export default function crashOnPut({ kinesis }) {
  kinesis.on('request', (request) => {
    if (String(request.headers['x-amz-target']).endsWith('.PutRecords'))
      setImmediate(() => {
        throw new Error(CRASH_MESSAGE);
      });
  });
}
