import { Worker } from 'node:worker_threads';
import type { FeedProgress, FeedWorkerCommand, FeedWorkerData, FeedWorkerReport } from './feed-worker.js';
import type { ProducerStats } from './producer.js';

/**
 * A file input fed from a thread of its own (feed-worker.ts): reading, packing and putting take a core of
 * their own instead of turns with the fold and the emitter.
 */
export interface FeedThread {
  /** Lines read and put so far, and the bytes of the files read. */
  progress(): FeedProgress;
  /** Stops reading (Ctrl-C): what was read is still put, and `done` resolves. */
  stop(): void;
  /** Everything put and acknowledged; rejects with the reason the feed failed. */
  readonly done: Promise<ProducerStats>;
  /** Ends the thread at once (the run is cut short). */
  terminate(): Promise<void>;
}

/** The worker's module beside this one: from .ts sources through a tsx bootstrap, built .js as it is. */
function feedWorkerModule(): URL {
  return new URL(import.meta.url).pathname.endsWith('.ts')
    ? new URL('./feed-worker-tsx.mjs', import.meta.url)
    : new URL('./feed-worker.js', import.meta.url);
}

/** How often the thread is told how far the fold got (what its lead is measured against). */
const FOLDED_REPORT_MS = 20;

export function startFeedThread(
  data: FeedWorkerData,
  say: (message: string) => void,
  /** Lines folded (or given up) so far: the feed keeps within `data.leadLines` of it. */
  folded: () => number,
): FeedThread {
  const worker = new Worker(feedWorkerModule(), { workerData: data, execArgv: [] });
  const telling = setInterval(
    () => worker.postMessage({ kind: 'folded', lines: folded() } satisfies FeedWorkerCommand),
    FOLDED_REPORT_MS,
  );
  telling.unref();
  let latest: FeedProgress = { read: 0, put: 0, bytesRead: 0 };
  let settled = false;
  const done = new Promise<ProducerStats>((resolve, reject) => {
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      reject(error);
    };
    worker.on('message', (report: FeedWorkerReport) => {
      if (report.kind === 'progress') {
        const { kind: _, ...progress } = report;
        latest = progress;
      } else if (report.kind === 'say') say(report.message);
      else if (report.kind === 'failed') fail(new Error(report.message));
      else if (!settled) {
        settled = true;
        resolve({ ...report.stats, lastSequenceByShard: new Map(report.stats.lastSequenceByShard) });
      }
    });
    worker.once('error', (error) => fail(new Error(`the producer thread failed: ${error.message}`)));
    worker.once('exit', (code) => fail(new Error(`the producer thread exited (code ${code})`)));
  });
  // Whoever awaits it handles its rejection.
  done.catch(() => {});
  done.finally(() => clearInterval(telling)).catch(() => {});
  return {
    progress: () => latest,
    stop: () => worker.postMessage({ kind: 'stop' } satisfies FeedWorkerCommand),
    done,
    terminate: async () => {
      clearInterval(telling);
      await worker.terminate();
    },
  };
}
