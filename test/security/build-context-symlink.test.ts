// Attack: symlinks in the build context that point out of it (absolute and relative, to a file,
// to a directory, picked by a wildcard, as ADD's archive). A top-level source that resolves
// outside is refused with CONTEXT_ESCAPE; a symlink *inside* a copied directory is copied as a
// symlink and never followed, so the victim's content reaches no layer.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/fixtures.js';
import { attemptBuild, HEAD } from './build-helpers.js';
import { watchOutside } from './outside.js';

describe.runIf(isRoot)('hostile build context: symlinks pointing out of it', () => {
  const refused: Array<[string, string]> = [
    ['a symlink to an outside file', 'COPY link-abs /stolen'],
    ['a relative symlink climbing out', 'COPY link-rel /stolen'],
    ['a symlink to an outside directory', 'COPY link-dir /stolen/'],
    ['a path through a symlinked directory', 'COPY link-dir/secret /stolen'],
    ['a wildcard matching a symlink out', 'COPY link-* /stolen/'],
    ['ADD of a symlink (no archive is read through it)', 'ADD link-abs /stolen'],
    ['COPY --parents through a symlink', 'COPY --parents link-dir/secret /stolen/'],
  ];
  it.each(refused)('%s → CONTEXT_ESCAPE, nothing read', async (_name, line) => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const ctx = join(scratch, 'ctx');
    const r = await attemptBuild(scratch, `${HEAD}${line}\n`, {
      'link-abs': { symlink: join(watch.victim, 'secret') },
      'link-rel': { symlink: relative(ctx, join(watch.victim, 'secret')) },
      'link-dir': { symlink: watch.victim },
    });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('CONTEXT_ESCAPE');
    expect(r.error?.message).toMatch(/outside the build context/);
    expect(r.error?.line).toBe(4);
    await watch.assertUnchanged();
  });

  it('symlinks inside a copied directory are copied as symlinks, not followed', async () => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const r = await attemptBuild(scratch, `${HEAD}COPY tree /tree/\nCOPY . /all/\n`, {
      'tree/ok': 'fine',
      'tree/out-file': { symlink: join(watch.victim, 'secret') },
      'tree/out-dir': { symlink: watch.victim },
      'tree/out-rel': { symlink: '../../../../../../../../etc/shadow' },
    });
    expect(r.ok, r.error?.message).toBe(true);
    const fs = r.fs!;
    expect(fs.get('tree/ok')?.type).toBe('file');
    expect(fs.get('tree/out-file')).toMatchObject({ type: 'symlink', link: join(watch.victim, 'secret') });
    expect(fs.get('tree/out-dir')).toMatchObject({ type: 'symlink', link: watch.victim });
    expect(fs.get('tree/out-rel')).toMatchObject({ type: 'symlink', link: '../../../../../../../../etc/shadow' });
    expect([...fs.keys()].filter((p) => p.startsWith('tree/out-dir/') || p.startsWith('all/tree/out-dir/'))).toEqual([]);
    // The victim's bytes are in no layer blob.
    const secret = readFileSync(join(watch.victim, 'secret'));
    const blobs = readdirSync(join(r.out, 'blobs', 'sha256'));
    for (const b of blobs) {
      const raw = readFileSync(join(r.out, 'blobs', 'sha256', b));
      const data = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
      expect(data.includes(secret), `blob ${b} holds the victim's secret`).toBe(false);
    }
    await watch.assertUnchanged();
  });
});
