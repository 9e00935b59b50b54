import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';

/**
 * An input of lines: '-' is stdin; a file is opened and checked now, so a missing file or a directory is a
 * clear error before anything starts.
 */
export async function openInputFile(path: string, stdin: Readable): Promise<Readable> {
  if (path === '-') return stdin;
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`no such input file: ${path}`);
    if (code === 'EACCES') throw new Error(`input file not readable: ${path}`);
    throw error;
  }
  const stat = await handle.stat();
  if (stat.isDirectory()) {
    await handle.close();
    throw new Error(`input ${path} is a directory, not a file of lines`);
  }
  return handle.createReadStream();
}
