// Crash-safety harness: run a compiled CLI, SIGKILL it after a delay, check what it left.
//
//   const delays = killPoints(calibratedMs, CRASH_POINTS);
//   for (const d of delays) { const r = await runAndKill(bin, argv, env, d); … checks … }
//
// The kill goes to the process the test spawned, as `kill -9 <pid>` by an operator or a CI
// timeout would: for a root run that is the relay of src/cli/mount-namespace.ts, whose inner
// process dies with it (PR_SET_PDEATHSIG), taking its private mount namespace along.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import { ownerState, stampOf, validateLayout } from '../../oci/index.js';
import { verifyCache } from '../../snapshot/index.js';
import { mountsUnder } from '../security/hostile.js';

/** Kill points per command: CNBX_CRASH_POINTS, else 14 with CNBX_HEAVY=1, else 5 (CI). */
export const CRASH_POINTS = Number(process.env.CNBX_CRASH_POINTS ?? (process.env.CNBX_HEAVY === '1' ? 14 : 5));

/** A deterministic pseudo-random sequence (mulberry32) so a failing point can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const CRASH_SEED = Number(process.env.CNBX_CRASH_SEED ?? 20_251_121);

/**
 * `n` delays spread over a run of `totalMs`: one per equal slice, at a seeded random place in it,
 * so every phase (startup, extraction, RUN, commit, output) is hit and reruns hit the same ones.
 */
export function killPoints(totalMs: number, n: number, seed = CRASH_SEED): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => Math.round((totalMs * (i + 0.1 + 0.8 * r())) / n));
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** The kill arrived before the process ended on its own. */
  killed: boolean;
}

/** Runs `node bin argv…`; with `killAfterMs`, SIGKILLs it then (if still running). */
export function runAndKill(bin: string, argv: string[], env: Record<string, string | undefined>, killAfterMs?: number, opts: { cwd?: string; mark?: string } = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [bin, ...argv], {
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', [RUN_MARK]: opts.mark ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer =
      killAfterMs === undefined
        ? setTimeout(() => child.kill('SIGKILL'), 300_000)
        : setTimeout(() => {
            if (child.exitCode === null && child.signalCode === null) {
              killed = true;
              child.kill('SIGKILL');
            }
          }, killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0, killed });
    });
  });
}

/** The env var runAndKill gives every run: settle() finds the run's processes by it. */
export const RUN_MARK = 'CNBX_CRASH_TEST_RUN';

/**
 * After a kill: wait until no process of the run (its command line or environment holds
 * `marker`) is left, at most `ms`. A SIGKILLed process takes a moment to die (its private mount
 * namespace is torn down with it), and the chroot helper gets SIGTERM when its parent dies and
 * stops the command; the next run must cope with all of it either way, but checks made before
 * the kill has taken effect would test nothing.
 */
export async function settle(marker: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const alive = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid).some((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker) || readFileSync(`/proc/${p}/environ`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    });
    if (!alive) return;
    await sleep(50);
  }
}

/** No mount of this (the host's) namespace is at or below any of `dirs`. */
export async function expectNoMounts(dirs: string[]): Promise<void> {
  for (const d of dirs) expect(await mountsUnder(d), `mounts left under ${d}`).toEqual([]);
}

/**
 * An output layout is either absent or a complete, valid one. A layout written in place (it
 * existed before) may also hold the temp blob of a writer killed mid-blob, which the next write
 * removes (DirBlobStore): everything validateLayout reports must then be such a file of a dead
 * process, and 'valid+temp' is returned.
 */
export async function expectAbsentOrValid(dir: string, check?: (dir: string) => Promise<void>): Promise<'absent' | 'valid' | 'valid+temp'> {
  if (!existsSync(dir)) return 'absent';
  let state: 'valid' | 'valid+temp' = 'valid';
  try {
    await validateLayout(dir);
  } catch (e) {
    const lines = (e as Error).message.split('\n').slice(1).map((l) => l.trim());
    const deadTemp = (l: string) => {
      const m = /\/(\.tmp-[^/: ]+): not a blob/.exec(l);
      const stamp = m ? stampOf(m[1]!) : null;
      return stamp !== null && ownerState(stamp) === 'dead';
    };
    if (lines.length === 0 || !lines.every(deadTemp)) throw e;
    state = 'valid+temp';
  }
  if (check) await check(dir);
  return state;
}

/**
 * The snapshot layer cache: every entry complete and unmodified (temp entries are allowed).
 * `sweep: false` checks without verifyCache, which would also remove the temp entries of dead
 * runs (what the next run is expected to do by itself): meta.json of every entry parses, names
 * the entry, and its fingerprint's entry count and bytes match the tree.
 */
export async function expectLayerCacheConsistent(dir: string, opts: { sweep?: boolean } = {}): Promise<void> {
  if (!existsSync(dir)) return;
  if (opts.sweep !== false) {
    const r = await verifyCache(dir, { deep: true, staleTempAfterMs: Number.MAX_SAFE_INTEGER });
    expect({ incomplete: r.incomplete, corrupt: r.corrupt }, dir).toEqual({ incomplete: [], corrupt: [] });
    return;
  }
  for (const area of ['layers', 'merged', 'fixups']) {
    for (const hex of existsSync(join(dir, area)) ? readdirSync(join(dir, area)) : []) {
      const entry = join(dir, area, hex);
      const meta = JSON.parse(readFileSync(join(entry, 'meta.json'), 'utf8')) as { id: string; fingerprint: { entries: number; bytes: number } };
      expect(meta.id, entry).toBe(`sha256:${hex}`);
      let entries = 0;
      let bytes = 0;
      const walk = (d: string): void => {
        for (const n of readdirSync(d, { withFileTypes: true })) {
          entries++;
          const p = join(d, n.name);
          if (n.isFile()) bytes += statSync(p).size;
          else if (n.isDirectory()) walk(p);
        }
      };
      walk(join(entry, 'fs'));
      expect({ entries, bytes }, entry).toEqual({ entries: meta.fingerprint.entries, bytes: meta.fingerprint.bytes });
    }
  }
}

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(p), h);
  return h.digest('hex');
}

/** A content-addressed blob dir: every non-temp file hashes to its name. Returns the temp files. */
export async function expectBlobsIntact(blobDir: string): Promise<string[]> {
  const temps: string[] = [];
  for (const name of existsSync(blobDir) ? readdirSync(blobDir) : []) {
    if (!/^[a-f0-9]{64}$/.test(name)) {
      temps.push(join(blobDir, name));
      continue;
    }
    expect(await sha256File(join(blobDir, name)), `blob ${name} in ${blobDir}`).toBe(name);
  }
  return temps;
}

/**
 * The extender's step cache (<kaniko-dir>/cache/layers): every entry parses and names a blob that
 * is present, of its size and digest. Returns the temp files (blob temps, entry temps).
 */
export async function expectStepCacheConsistent(dir: string): Promise<string[]> {
  const temps = await expectBlobsIntact(join(dir, 'blobs', 'sha256'));
  const entries = join(dir, 'entries');
  for (const name of existsSync(entries) ? readdirSync(entries) : []) {
    if (!name.endsWith('.json')) {
      temps.push(join(entries, name));
      continue;
    }
    const e = JSON.parse(readFileSync(join(entries, name), 'utf8')) as { empty?: boolean; layer?: { digest: string; size: number } };
    if (e.empty) continue;
    const blob = join(dir, 'blobs', 'sha256', e.layer!.digest.slice(7));
    expect(existsSync(blob), `entry ${name}: blob ${e.layer!.digest} missing`).toBe(true);
    expect(statSync(blob).size, `entry ${name}: blob size`).toBe(e.layer!.size);
  }
  return temps;
}

/** Names in `dir` matching `re` (debris a killed run may leave and the next run must remove). */
export function leftovers(dir: string, re: RegExp): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => re.test(n)).map((n) => join(dir, n)) : [];
}
