import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

const created: string[] = [];

/** A fresh temporary directory, removed after the current test. */
export async function tmpDir(prefix = 'cnbx-test-'): Promise<string> {
  const base = process.env.CNBX_TEST_TMP ?? tmpdir();
  const d = await mkdtemp(join(base, prefix));
  created.push(d);
  return d;
}

afterEach(async () => {
  while (created.length > 0) {
    const d = created.pop()!;
    await rm(d, { recursive: true, force: true }).catch(() => {});
  }
});
