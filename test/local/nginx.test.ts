import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pause } from '../../shared/pause.js';
import { formatClock } from '../../shared/time.js';
import { ipcount } from '../helpers/cli.js';
import { resultCounts } from '../helpers/oracle.js';
import { systemProgram } from '../helpers/system-program.js';

/**
 * A real NGINX (Debian's, installed by .ci/run; skipped with the reason where it is missing) on a loopback port, its access log in a temp dir. Requests
 * come from several loopback source addresses in two bursts, each inside one 5-second window; the log goes
 * through `ipcount run --input`, and every (ip, window) must count exactly the requests sent.
 */
const nginxProgram = systemProgram(
  'nginx',
  'sudo apt-get install nginx-light on Debian/Ubuntu, brew install nginx on macOS',
  ['/usr/sbin/nginx'],
);
const dir = mkdtempSync(join(tmpdir(), 'ipcount-nginx-'));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function get(port: number, from: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', localAddress: from, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Waits until 300 ms into the next 5-second window, so a quick burst stays inside one window. */
async function windowStart(): Promise<number> {
  const now = Date.now();
  const next = Math.ceil(now / 5000) * 5000;
  await pause(next - now + 300);
  return next;
}

describe('a real NGINX access log, end to end', nginxProgram.testOptions, () => {
  let nginx: ChildProcess | undefined;
  let port = 0;
  before(async () => {
    const NGINX = nginxProgram.path();
    port = await freePort();
    mkdirSync(join(dir, 'tmp'));
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log combined;
  client_body_temp_path ${dir}/tmp;
  server {
    listen 127.0.0.1:${port};
    location / { return 200 "ok\\n"; }
  }
}
`,
    );
    execFileSync(NGINX, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'pipe' });
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try {
        await get(port, '127.0.0.1');
        return;
      } catch {
        await pause(50);
      }
    }
    throw new Error(`nginx did not answer on ${port}: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
  });
  after(() => {
    nginx?.kill('SIGQUIT');
  });

  it('counts the requests of each source address in each window', async () => {
    // Prepare: two bursts from four loopback addresses (the warm-up request above came from 127.0.0.1).
    const bursts = [
      { '127.0.0.2': 3, '127.0.0.3': 5, '127.0.0.4': 2, '127.0.0.5': 7 },
      { '127.0.0.2': 4, '127.0.0.3': 1, '127.0.0.5': 6 },
    ];
    const expected = new Map<string, number>();
    for (const burst of bursts) {
      const start = await windowStart();
      const sends: Promise<number>[] = [];
      for (const [ip, n] of Object.entries(burst)) {
        for (let i = 0; i < n; i++) sends.push(get(port, ip));
        expected.set(`${formatClock(start, 'UTC')} ${ip}`, n);
      }
      assert.ok((await Promise.all(sends)).every((status) => status === 200));
    }
    // Act
    const result = await ipcount(['run', '--input', join(dir, 'access.log')]);
    // Assess
    assert.equal(result.code, 0, result.stderr);
    const counts = resultCounts(result.stdout);
    for (const key of [...counts.keys()]) if (key.endsWith(' 127.0.0.1')) counts.delete(key);
    assert.deepEqual(counts, expected);
  });
});
