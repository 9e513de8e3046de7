// Pull throughput: our registry client (Registry.pull into an OCI layout) against
// `skopeo copy docker://… oci:…`, on the debian-large fixture served by a local docker-registry.
//
//   npx tsc -p tsconfig.json; node dist/bench/pull.bench.js [--runs N] [--fixture debian-large] [--bare] [--concurrency N]
//
// The fixture is pushed once (skopeo copy oci: → docker://). Then A (ours) and B (skopeo) run
// interleaved, A B A B …, each into an empty directory under bench/work/pull with `sync` before
// it, so one run's writeback does not land in the next. --bare adds C: undici GETs of the same blobs
// written to files (no verification, no layout): the floor for an HTTP client in Node.
// Our pull splits layers of 96 MiB or more into 4 parallel Range requests (oci/registry/blob-download.ts).
// Printed: wall medians, user and sys CPU medians, minor page faults (this process for ours and
// bare, /usr/bin/time for skopeo) and the throughput ratio ours/skopeo (1 = as fast; 0.9 is the
// target), then one SUMMARY line with that ratio, CPU per pull and the load average. Timing noise
// on the shared 2-core VMs is large (bench/PULL.md): read ratios and CPU, not seconds.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { Agent, request } from 'undici';
import { OciLayout, Registry } from '../oci/index.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const FIXTURES = process.env.CNBX_FIXTURES ?? '/var/tmp/cnb-extender-fixtures';
const WORK = join(ROOT, 'bench', 'work', 'pull');

function args() {
  const a = process.argv.slice(2);
  const o = { runs: 5, fixture: 'debian-large', bare: false, concurrency: 4 };
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--runs') o.runs = Number(a[++i]);
    else if (a[i] === '--fixture') o.fixture = a[++i]!;
    else if (a[i] === '--bare') o.bare = true;
    else if (a[i] === '--concurrency') o.concurrency = Number(a[++i]);
  }
  return o;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function fresh(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync('sync');
}

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

/** docker-registry on 127.0.0.1, storage under bench/work; killed on exit; timeout(1) bounds it anyway. */
async function startRegistry(): Promise<{ host: string; stop: () => void }> {
  const dir = join(WORK, 'registry');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(dir, 'config.yml');
  writeFileSync(config, ['version: 0.1', 'log:', '  level: warn', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`, 'http:', `  addr: ${host}`, ''].join('\n'));
  const child = spawn('timeout', ['3600', 'docker-registry', 'serve', config], { stdio: 'ignore', detached: true });
  const stop = () => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
  };
  process.on('exit', stop);
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://${host}/v2/`);
      await r.arrayBuffer();
      if (r.status === 200) return { host, stop };
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  stop();
  throw new Error('docker-registry did not start');
}

interface Sample { wall: number; user: number; sys: number; minflt: number }

async function ours(ref: string, host: string, dir: string, concurrency: number): Promise<Sample> {
  fresh(dir);
  const out = join(dir, 'layout');
  const r0 = process.resourceUsage();
  const t0 = process.hrtime.bigint();
  const reg = new Registry({ insecure: [host], concurrency });
  try {
    await reg.pull(ref, out);
  } finally {
    await reg.close();
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  return { wall, ...usageSince(r0) };
}

function skopeo(ref: string, dir: string): Sample {
  fresh(dir);
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %R', 'skopeo', 'copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(dir, 'layout')}:latest`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`skopeo copy failed: ${r.stderr}`);
  const [wall, user, sys, minflt] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number, number, number];
  return { wall, user, sys, minflt };
}

/** The floor: the same blobs GET by undici, `concurrency` at a time, straight to files (no hashing, no fsync). */
async function bare(host: string, repo: string, blobs: { digest: string; size: number }[], dir: string, concurrency: number): Promise<Sample> {
  fresh(dir);
  const r0 = process.resourceUsage();
  const t0 = process.hrtime.bigint();
  const agent = new Agent({ keepAliveTimeout: 10_000 });
  const limit = pLimit(concurrency);
  try {
    await Promise.all(blobs.map((b) => limit(async () => {
      const res = await request(`http://${host}/v2/${repo}/blobs/${b.digest}`, { dispatcher: agent, maxRedirections: 0, highWaterMark: 1024 * 1024 } as Parameters<typeof request>[1]);
      if (res.statusCode !== 200) throw new Error(`GET ${b.digest}: ${res.statusCode}`);
      await pipeline(res.body, createWriteStream(join(dir, b.digest.slice(7)), { highWaterMark: 1024 * 1024 }));
    })));
  } finally {
    await agent.close();
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  return { wall, ...usageSince(r0) };
}

/** CPU seconds and minor page faults of this process since `r0` (the bench does nothing else meanwhile). */
function usageSince(r0: NodeJS.ResourceUsage): Omit<Sample, 'wall'> {
  const r = process.resourceUsage();
  return { user: (r.userCPUTime - r0.userCPUTime) / 1e6, sys: (r.systemCPUTime - r0.systemCPUTime) / 1e6, minflt: r.minorPageFault - r0.minorPageFault };
}

async function main(): Promise<void> {
  const o = args();
  const load0 = loadavg().map((x) => x.toFixed(1)).join(' ');
  const src = join(FIXTURES, o.fixture);
  if (!existsSync(join(src, 'index.json'))) throw new Error(`fixture ${src} missing: bash fixtures/make-fixtures.sh ${o.fixture}`);
  const img = await (await OciLayout.open(src)).image({ tag: 'latest' });
  const bytes = img.layers.reduce((n, l) => n + l.descriptor.size, 0);
  const reg = await startRegistry();
  try {
    const repo = `bench/${o.fixture}`;
    const ref = `${reg.host}/${repo}:latest`;
    execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${src}:latest`, `docker://${ref}`]);
    console.log(`${o.fixture}: ${img.layers.length} layers, ${(bytes / 1048576).toFixed(1)} MiB; registry ${reg.host}; ${o.runs} runs, interleaved; concurrency ${o.concurrency}`);
    const a: Sample[] = [];
    const b: Sample[] = [];
    const c: Sample[] = [];
    const blobs = [...img.layers.map((l) => l.descriptor), img.manifest.config];
    // one untimed warm-up of each, so the registry's files are in the page cache for everyone
    await ours(ref, reg.host, join(WORK, 'ours'), o.concurrency);
    skopeo(ref, join(WORK, 'skopeo'));
    for (let i = 0; i < o.runs; i++) {
      a.push(await ours(ref, reg.host, join(WORK, 'ours'), o.concurrency));
      b.push(skopeo(ref, join(WORK, 'skopeo')));
      if (o.bare) c.push(await bare(reg.host, repo, blobs, join(WORK, 'bare'), o.concurrency));
      const last = (s: Sample[]) => (s.length ? `${s.at(-1)!.wall.toFixed(2)}s` : '-');
      console.log(`run ${i + 1}: ours ${last(a)}  skopeo ${last(b)}${o.bare ? `  bare ${last(c)}` : ''}`);
    }
    const mib = bytes / 1048576;
    const row = (name: string, s: Sample[]) => {
      const w = median(s.map((x) => x.wall));
      const m = (f: (x: Sample) => number) => median(s.map(f));
      return `${name.padEnd(8)} wall ${w.toFixed(2)} s (${(mib / w).toFixed(0)} MiB/s)  user ${m((x) => x.user).toFixed(2)} s  sys ${m((x) => x.sys).toFixed(2)} s  minflt ${m((x) => x.minflt).toFixed(0)}  [${s.map((x) => x.wall.toFixed(2)).join(' ')}]`;
    };
    console.log(row('ours', a));
    console.log(row('skopeo', b));
    if (o.bare) console.log(row('bare', c));
    const ratio = median(b.map((x) => x.wall)) / median(a.map((x) => x.wall));
    const cpu = (s: Sample[]) => median(s.map((x) => x.user + x.sys));
    console.log(`throughput ours/skopeo = ${ratio.toFixed(2)}`);
    // One line to grep: the wall ratio (the target), and CPU per pull, which the load does not move much.
    console.log(`SUMMARY pull ${o.fixture}: ours/skopeo throughput ${ratio.toFixed(2)} (target 0.9: ${ratio >= 0.9 ? 'met' : 'NOT met'}); ` +
      `CPU per pull (user+sys) ours ${cpu(a).toFixed(2)} s, skopeo ${cpu(b).toFixed(2)} s (ours/skopeo ${(cpu(a) / cpu(b)).toFixed(2)}); ` +
      `load average at start ${load0}, at end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  } finally {
    reg.stop();
    rmSync(WORK, { recursive: true, force: true });
  }
}

await main();
