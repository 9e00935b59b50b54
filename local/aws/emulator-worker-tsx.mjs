// The emulator worker run from .ts sources. Node 20 does not carry the parent's tsx loader (a register() call
// or `--import tsx`, even in the worker's execArgv) into a worker thread's imports, so it is registered here.
import { register } from 'tsx/esm/api';

register();
await import('./emulator-worker.ts');
