import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Snapshot } from './dashboard-feed.js';

/**
 * The page: one HTML file, its script and style, and uPlot from node_modules (no CDN: it works offline),
 * with the data as Server-Sent Events, one snapshot per tick of the feed, and as /snapshot.json. The
 * browser redraws on each event; it never polls.
 */
export interface DashboardServerOptions {
  readonly host: string;
  /** 0 = a free port. */
  readonly port: number;
  /** Makes the next snapshot; called once per tick, whoever is watching. */
  readonly snapshot: () => Promise<Snapshot>;
  readonly tickMs: number;
  /** A tick that failed (a table throttled, the stack gone): said, and the next tick tries again. */
  readonly onError: (error: unknown) => void;
}

export interface DashboardServer {
  readonly url: string;
  /** The last snapshot sent, once there is one. */
  latest(): Snapshot | undefined;
  close(): Promise<void>;
}

/** The page's files: beside this module in the sources, or in the sources from the bundle in dist/. */
function staticDir(): string {
  const candidates = [new URL('./static/', import.meta.url), new URL('../local/ui/static/', import.meta.url)];
  const found = candidates.map((u) => fileURLToPath(u)).find((dir) => existsSync(`${dir}index.html`));
  if (!found) throw new Error('the page files (local/ui/static) are missing from this install');
  return found;
}

function assets(): Map<string, { type: string; body: Buffer }> {
  const dir = staticDir();
  const require = createRequire(import.meta.url);
  const uplot = (file: string) => readFileSync(require.resolve(`uplot/dist/${file}`));
  const own = (file: string) => readFileSync(`${dir}${file}`);
  return new Map([
    ['/', { type: 'text/html; charset=utf-8', body: own('index.html') }],
    ['/app.js', { type: 'text/javascript; charset=utf-8', body: own('app.js') }],
    ['/app.css', { type: 'text/css; charset=utf-8', body: own('app.css') }],
    ['/uPlot.iife.min.js', { type: 'text/javascript; charset=utf-8', body: uplot('uPlot.iife.min.js') }],
    ['/uPlot.min.css', { type: 'text/css; charset=utf-8', body: uplot('uPlot.min.css') }],
  ]);
}

export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const files = assets();
  const watchers = new Set<ServerResponse>();
  let latest: Snapshot | undefined;
  let latestJson = '';

  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? '/', 'http://page').pathname;
    if (request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/events') {
      response.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      // The browser reconnects on its own after this long if the connection drops.
      response.write('retry: 2000\n\n');
      if (latestJson) response.write(`data: ${latestJson}\n\n`);
      watchers.add(response);
      request.on('close', () => watchers.delete(response));
      return;
    }
    if (path === '/snapshot.json') {
      if (!latest) {
        response.writeHead(503, { 'retry-after': '1' }).end('no snapshot yet\n');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(latestJson);
      return;
    }
    const file = files.get(path);
    if (!file) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    response.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-cache' }).end(file.body);
  });

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = async () => {
    try {
      const next = await options.snapshot();
      const json = JSON.stringify(next);
      latest = next;
      // Sent every tick, changed or not: its time is the page's sign that the run is alive.
      latestJson = json;
      for (const watcher of watchers) watcher.write(`data: ${json}\n\n`);
    } catch (error) {
      options.onError(error);
    }
    if (!stopped) timer = setTimeout(() => (running = tick()), options.tickMs);
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  running = tick();
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}/`,
    latest: () => latest,
    async close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      if (timer) clearTimeout(timer);
      for (const watcher of watchers) watcher.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
