import type { Writable } from 'node:stream';

/** What a bounded run has done so far, sampled for its progress line. */
export interface ProgressSample {
  readonly read: number;
  readonly put: number;
  readonly folded: number;
  readonly bytesRead: number;
  /** The input's size, when it is a file: the ETA needs it. */
  readonly totalBytes?: number;
  /** The process's resident memory now (all its threads). */
  readonly rssBytes?: number;
}

const number = new Intl.NumberFormat('en-US');

function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const mm = String(m).padStart(h > 0 ? 2 : 1, '0');
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * `12,000 read, 11,500 put, 9,000 folded · 1,450 lines/s · 38% · ETA 1:12 · RSS 310 MB`, all in lines (a Kinesis
 * record holds hundreds). The rate is of lines folded since the start. The ETA is for the whole run:
 * the part of the file read, times the part of what was read that is folded, extrapolated at the rate so far.
 */
export function formatProgress(sample: ProgressSample, elapsedMs: number): string {
  const seconds = Math.max(elapsedMs, 1) / 1000;
  const parts = [
    `${number.format(sample.read)} read, ${number.format(sample.put)} put, ${number.format(sample.folded)} folded`,
    `${number.format(Math.round(sample.folded / seconds))} lines/s`,
  ];
  if (sample.totalBytes !== undefined && sample.totalBytes > 0) {
    const readShare = Math.min(1, sample.bytesRead / sample.totalBytes);
    const done = readShare * (sample.read > 0 ? Math.min(1, sample.folded / sample.read) : 0);
    parts.push(`${Math.floor(done * 100)}%`);
    parts.push(done > 0 ? `ETA ${clock((elapsedMs * (1 - done)) / done)}` : 'ETA –');
  }
  if (sample.rssBytes !== undefined) parts.push(`RSS ${number.format(Math.round(sample.rssBytes / 1e6))} MB`);
  return parts.join(' · ');
}

export interface ProgressLine {
  /** Writes a message line without it running into the progress line (which is redrawn at its next tick). */
  print(text: string): void;
  stop(): void;
}

/**
 * Redraws one line on a terminal (`\r`, cleared), at most once per `intervalMs`; elsewhere (a pipe, a file,
 * CI) it prints nothing unless `always`, and then one full line per interval and one at the end, so a run
 * shorter than an interval still says where it got to.
 */
export function startProgressLine(
  stderr: Writable & { isTTY?: boolean },
  sample: () => ProgressSample,
  options: { readonly always: boolean; readonly intervalMs?: number },
): ProgressLine {
  const terminal = stderr.isTTY === true;
  if (!terminal && !options.always) return { print: (text) => stderr.write(text), stop: () => {} };
  const startedAt = Date.now();
  const draw = () => {
    const line = `ipcount: ${formatProgress(sample(), Date.now() - startedAt)}`;
    stderr.write(terminal ? `\r\x1b[2K${line}` : `${line}\n`);
  };
  const timer = setInterval(draw, options.intervalMs ?? 1_000);
  timer.unref();
  return {
    print: (text) => stderr.write(terminal ? `\r\x1b[2K${text}` : text),
    stop: () => {
      clearInterval(timer);
      if (terminal) stderr.write('\r\x1b[2K');
      else draw();
    },
  };
}
