// The producer thread run from .ts sources: as for the emulator thread (local/aws/emulator-worker-tsx.mjs),
// Node 20 does not carry the parent's tsx loader into a worker thread, so it is registered here.
import { register } from 'tsx/esm/api';

register();
await import('./feed-worker.ts');
