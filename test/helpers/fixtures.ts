import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Where fixture images are cached between runs (shared by tests, bench and the demo). */
export const FIXTURES_DIR = process.env.CNBX_FIXTURES ?? '/var/tmp/cnb-extender-fixtures';

export type FixtureName = 'busybox' | 'debian' | 'debian-large';

/**
 * Path of a fixture OCI layout (tag `latest`), building it with fixtures/make-fixtures.sh when it
 * is not cached yet. busybox takes about a second, debian about half a minute, debian-large minutes.
 */
export function fixture(name: FixtureName): string {
  const dir = join(FIXTURES_DIR, name);
  if (!existsSync(join(dir, 'index.json'))) {
    const script = resolve(import.meta.dirname, '../../fixtures/make-fixtures.sh');
    execFileSync('bash', [script, name], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, CNBX_FIXTURES: FIXTURES_DIR } });
  }
  return dir;
}

export const isRoot = process.getuid?.() === 0;

/** True when a command is on PATH. */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
