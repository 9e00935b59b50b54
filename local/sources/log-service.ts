import { createServer, type Server, type Socket } from 'node:net';
import { formatClock } from '../../shared/time.js';
import { seededRandom } from './generate.js';

/**
 * The seed's log service: on each TCP connection it writes `HH:mm:ss IP` lines, one per `\n`, stamped with
 * the current time, at a steady rate over a set of IPs.
 */
export interface LogServiceOptions {
  readonly host: string;
  readonly port: number;
  readonly ratePerSecond: number;
  readonly ips: readonly string[];
  readonly timeZone: string;
  readonly seed: number;
}

export interface LogService {
  readonly port: number;
  stop(): Promise<void>;
}

const TICK_MS = 50;

export const SEED_IPS = ['192.168.1.1', '192.168.1.2', '192.168.1.3', '192.168.1.4'];

function serve(socket: Socket, options: LogServiceOptions, seed: number): () => void {
  const random = seededRandom(seed);
  const startedAt = Date.now();
  let written = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - startedAt) / 1000) * options.ratePerSecond);
    if (due <= written || socket.writableNeedDrain) return;
    const clock = formatClock(Date.now(), options.timeZone);
    let chunk = '';
    for (; written < due; written++)
      chunk += `${clock} ${options.ips[Math.floor(random() * options.ips.length)]}\n`;
    socket.write(chunk);
  }, TICK_MS);
  return () => clearInterval(timer);
}

export async function startLogService(options: LogServiceOptions): Promise<LogService> {
  if (!(options.ratePerSecond > 0)) throw new Error('rate must be a positive number of lines per second');
  if (options.ips.length === 0) throw new Error('the log service needs at least one IP');
  const sockets = new Set<Socket>();
  const stops = new Set<() => void>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const stop = serve(socket, options, options.seed + connections++);
    stops.add(stop);
    const end = () => {
      stop();
      stops.delete(stop);
      sockets.delete(socket);
    };
    socket.on('close', end);
    socket.on('error', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `log service port ${options.port} on ${options.host} is already in use (choose another with --port)`,
            )
          : error,
      ),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    stop: async () => {
      for (const stop of stops) stop();
      for (const socket of sockets) socket.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
