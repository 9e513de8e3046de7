import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * Runs once before any test file: builds dist/ so that tests spawning the compiled CLI run the
 * current sources. Building here (not in a test file's beforeAll) keeps it from racing with other
 * files that are already spawning the CLI.
 */
export default function setup(): void {
  if (process.env.CNBX_SKIP_BUILD === '1') return;
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: resolve(import.meta.dirname, '../..'), stdio: 'inherit' });
}
