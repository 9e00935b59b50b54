import type { Readable } from 'node:stream';
import { CUT_LINE_KEPT_CHARS, cutLine, MAX_LINE_BYTES } from '../../shared/parse.js';

export interface ReadLinesOptions {
  /** @default MAX_LINE_BYTES */
  readonly maxLineBytes?: number;
  /** Stops reading (Ctrl-C): the lines of what was already read are still yielded, then the input is closed. */
  readonly signal?: AbortSignal;
  /** Told the size of every chunk read: a progress line counts bytes without a listener of its own. */
  readonly onBytes?: (bytes: number) => void;
}

/**
 * Splits a byte stream into lines at `\n` (a `\r` before it is dropped), holding at most `maxLineBytes` of
 * any one line: a longer line is yielded as a cut line (its start and its true length, see `cutLine`), so a
 * file with a gigabyte on one line costs no more memory than a short one and is dead-lettered, not lost.
 * Invalid UTF-8 becomes U+FFFD, which the fold classifies as binary.
 */
export async function* readLines(input: Readable, options: ReadLinesOptions = {}): AsyncGenerator<string> {
  const maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  const { signal } = options;
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let held: Buffer[] = [];
  let heldBytes = 0;
  let lineBytes = 0;

  const finish = (): string => {
    let bytes = Buffer.concat(held, heldBytes);
    held = [];
    heldBytes = 0;
    const length = lineBytes;
    lineBytes = 0;
    if (length > maxLineBytes) {
      // Keep enough bytes for the kept characters; a character split at the cut decodes as U+FFFD.
      return cutLine(decoder.decode(bytes.subarray(0, CUT_LINE_KEPT_CHARS * 4)), length);
    }
    if (bytes.length > 0 && bytes[bytes.length - 1] === 13) bytes = bytes.subarray(0, -1);
    return decoder.decode(bytes);
  };

  const chunks = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  // An abort destroys the input, which ends the read in flight. (Not a race of each read against one promise
  // that never settles: every race would stay attached to it, and with it every chunk read.)
  let aborted = signal?.aborted === true;
  const onAbort = () => {
    aborted = true;
    input.destroy();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      if (aborted) {
        input.destroy();
        break;
      }
      let next: IteratorResult<Buffer | string>;
      try {
        next = await chunks.next();
      } catch (error) {
        // Destroyed by the abort: a premature close, nothing to report.
        if (aborted) break;
        throw error;
      }
      if (next.done || aborted) break;
      const chunk = next.value;
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      options.onBytes?.(buffer.length);
      let from = 0;
      while (from <= buffer.length) {
        const newline = buffer.indexOf(10, from);
        const end = newline === -1 ? buffer.length : newline;
        if (end > from) {
          const piece = buffer.subarray(from, end);
          lineBytes += piece.length;
          const room = maxLineBytes + 1 - heldBytes;
          if (room > 0) {
            const kept = piece.length <= room ? piece : piece.subarray(0, room);
            held.push(kept);
            heldBytes += kept.length;
          }
        }
        if (newline === -1) break;
        yield finish();
        from = newline + 1;
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  // A last line without its newline.
  if (lineBytes > 0) yield finish();
}
