import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';

/** An input of lines: '-' is stdin; a file is opened now, so a missing one is a clear error before any work. */
export async function openInputFile(path: string, stdin: Readable): Promise<Readable> {
  if (path === '-') return stdin;
  const file = createReadStream(path);
  await new Promise<void>((resolve, reject) => {
    file.once('open', () => resolve());
    file.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(error.code === 'ENOENT' ? `no such input file: ${path}` : error.message)),
    );
  });
  return file;
}
