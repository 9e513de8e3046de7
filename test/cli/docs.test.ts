// docs/cli.md's flag tables are generated from the commands' -help output (docs/gen-cli-docs.mjs):
// this fails when a flag was added, renamed or re-described without regenerating them.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

describe.skipIf(!existsSync(resolve(ROOT, 'dist/src/cli/bin.js')))('docs/cli.md', () => {
  it('has the flag tables of the commands as they are (node docs/gen-cli-docs.mjs --check)', () => {
    const r = spawnSync(process.execPath, [resolve(ROOT, 'docs/gen-cli-docs.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the check notices a stale table', async () => {
    const { regenerate } = (await import(resolve(ROOT, 'docs/gen-cli-docs.mjs'))) as { regenerate(t: string): { stale: string[] } };
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(resolve(ROOT, 'docs/cli.md'), 'utf8');
    expect(regenerate(doc).stale).toEqual([]);
    expect(regenerate(doc.replace('| `-sparse` | bool |', '| `-sparse` | string |')).stale).toEqual(['apply']);
  });
});
