import type { EmulatorWorkerHooks } from '../../../local/aws/emulator-worker.js';

export declare const CRASH_MESSAGE: string;
declare const crashOnPut: EmulatorWorkerHooks;
export default crashOnPut;
