// A real registry for integration tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1,
// a random free port, plain HTTP, filesystem storage in a temp dir, optionally htpasswd Basic auth.
// It is killed on stop(), on afterAll (useRegistry) and on process exit, whatever the test outcome;
// a watchdog shell kills it within a second if the test process dies without cleaning up (SIGKILL,
// a timed-out worker), and timeout(1) bounds its life in any case.
//
//   const reg = useRegistry({ auth: { username: 'xt', password: 'xt' } });
//   it('…', async () => { reg().host /* "127.0.0.1:PORT" */ });
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll } from 'vitest';

export interface RegistryAuth {
  username: string;
  password: string;
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT`, as written in image references. */
  host: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Temp dir holding config.yml, htpasswd, data/ and log. */
  dir: string;
  auth: RegistryAuth | undefined;
  /** The registry's log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

// $1 = pid to watch (this process), $2 = TTL seconds, $3 = config. SIGTERM stops the registry and
// waits for it; so does the watched process going away. It runs as its own process group (timeout
// --foreground stays in it), so a SIGKILL to the group takes everything down.
const WATCHDOG = `
timeout --foreground --kill-after=5 "$2" docker-registry serve "$3" &
reg=$!
trap 'kill $reg 2>/dev/null; wait $reg; exit 0' TERM INT
while kill -0 "$1" 2>/dev/null && kill -0 $reg 2>/dev/null; do sleep 0.5; done
kill $reg 2>/dev/null; wait $reg
`;

const live = new Set<ChildProcess>();
function killGroup(c: ChildProcess, sig: NodeJS.Signals): void {
  try {
    if (c.pid !== undefined) process.kill(-c.pid, sig);
  } catch {
    /* already gone */
  }
}

process.on('exit', () => {
  for (const c of live) killGroup(c, 'SIGKILL');
});

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

async function ready(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const r = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200 || r.status === 401) return true;
    } catch {
      /* not listening yet */
    }
    await sleep(50);
  }
  return false;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    live.delete(child);
    return;
  }
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  child.kill('SIGTERM'); // the watchdog stops timeout(1), which passes it on to docker-registry
  const t = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
  live.delete(child);
}

/**
 * Starts a registry; retries on another port if the chosen one was taken meanwhile. It stops by
 * itself when `watchPid` (default: this process) exits or after `ttlSeconds` (default 1800).
 */
export async function startRegistry(opts: { auth?: RegistryAuth; ttlSeconds?: number; watchPid?: number } = {}): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(process.env.CNBX_TEST_TMP ?? tmpdir(), 'cnbx-registry-'));
  let authYaml = '';
  if (opts.auth) {
    // -i: the password comes on stdin, not on a command line.
    execFileSync('htpasswd', ['-iBc', join(dir, 'htpasswd'), opts.auth.username], { input: opts.auth.password, stdio: ['pipe', 'ignore', 'pipe'] });
    authYaml = `auth:\n  htpasswd:\n    realm: cnbx-test-registry\n    path: ${join(dir, 'htpasswd')}\n`;
  }
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config = join(dir, 'config.yml');
    await writeFile(config, [
      'version: 0.1',
      'log:', '  level: warn', '  accesslog:', '    disabled: true',
      'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`, '  delete:', '    enabled: true',
      'http:', `  addr: ${host}`,
      authYaml,
    ].join('\n'));
    const logPath = join(dir, 'log');
    const logFd = openSync(logPath, 'a');
    const child = spawn('sh', ['-c', WATCHDOG, 'registry-watchdog', String(opts.watchPid ?? process.pid), String(opts.ttlSeconds ?? 1800), config], {
      stdio: ['ignore', logFd, logFd],
      detached: true,
    });
    closeSync(logFd);
    live.add(child);
    const url = `http://${host}`;
    const log = (): string => {
      try {
        return readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    };
    if (await ready(url, child, 15_000)) {
      return {
        host, url, dir, auth: opts.auth, log,
        stop: async () => {
          await kill(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    await kill(child);
    if (attempt >= 3) {
      const text = log();
      await rm(dir, { recursive: true, force: true });
      throw new Error(`docker-registry did not start on ${host}:\n${text}`);
    }
  }
}

/** A registry for the tests of one file: started in beforeAll, stopped in afterAll (even after failures). */
export function useRegistry(opts: { auth?: RegistryAuth } = {}): () => RunningRegistry {
  let reg: RunningRegistry | undefined;
  beforeAll(async () => {
    reg = await startRegistry(opts);
  });
  afterAll(async () => {
    await reg?.stop();
  });
  return () => {
    if (!reg) throw new Error('registry not started (useRegistry must be called at describe/file level)');
    return reg;
  };
}
