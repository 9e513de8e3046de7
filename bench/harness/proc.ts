// Running commands: timed under GNU time (wall from our own clock, CPU and peak RSS from time),
// and untimed helpers for setup and cleanup.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

export interface Timed {
  wallS: number;
  userS: number;
  sysS: number;
  maxRssMiB: number;
  exitCode: number;
  loadavg1: number;
}

export interface RunOpts {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr of the command are appended here. */
  logFile: string;
  /** Scratch dir for GNU time's output file. */
  tmpDir: string;
}

let counter = 0;

/**
 * Runs argv under `/usr/bin/time -f '%U %S %M'`. %M is the peak RSS of the largest single process
 * the command waited for (getrusage RUSAGE_CHILDREN), in KiB. Wall time is measured here with
 * hrtime around the spawn (GNU time's %e has 10 ms resolution).
 */
export function runTimed(argv: string[], opts: RunOpts): Promise<Timed> {
  const timeFile = join(opts.tmpDir, `time-${process.pid}-${counter++}`);
  appendFileSync(opts.logFile, `\n$ ${argv.join(' ')}\n`);
  const load = loadavg()[0] ?? 0;
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', timeFile, ...argv], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (c: Buffer) => appendFileSync(opts.logFile, c));
    child.stderr.on('data', (c: Buffer) => appendFileSync(opts.logFile, c));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
      let text = '';
      try {
        text = readFileSync(timeFile, 'utf8');
      } catch {
        /* time did not write: the command could not start */
      }
      rmSync(timeFile, { force: true });
      // When the command fails, time writes "Command exited with non-zero status N" first.
      const last = text.trim().split('\n').at(-1) ?? '';
      const [u, s, m] = last.split(' ').map(Number);
      resolve({ wallS, userS: u ?? NaN, sysS: s ?? NaN, maxRssMiB: (m ?? NaN) / 1024, exitCode: code ?? -1, loadavg1: load });
    });
  });
}

/** Runs a command to completion (untimed); throws with its output when it fails. */
export function sh(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; allowFail?: boolean } = {}): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if ((r.status !== 0 || r.error) && !opts.allowFail) {
    throw new Error(`${argv.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr || r.stdout || '').trim().slice(-2000)}`);
  }
  return r.stdout ?? '';
}

/** The last lines of a log file, for error messages. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Removes a directory tree, unmounting whatever is still mounted below it first (buildah's
 * overlay store, a crashed overlay workspace), then flushes the page cache's dirty pages so that
 * one run's writeback does not land in the next run's time.
 */
export function resetDir(dir: string, opts: { sync?: boolean } = {}): void {
  const mounts = sh(['findmnt', '-rn', '-o', 'TARGET'], { allowFail: true })
    .split('\n')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort()
    .reverse();
  for (const m of mounts) sh(['umount', '-l', m], { allowFail: true });
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  if (opts.sync !== false) sh(['sync']);
}
