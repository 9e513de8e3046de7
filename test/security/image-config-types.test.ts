// Attack (or a broken producer): a base image whose config has fields of the wrong type —
// `Env` a string, a `history` entry null, `Labels` with a number, `User` a number, `config` a
// list. Found by fuzzing: `Env: "x"` reached the build engine and failed as a TypeError
// (`(opts.env ?? []).map is not a function`, exit 1). Now the image reader refuses the config
// (OciError INVALID_JSON naming the config digest and the field) and `apply` exits 6. (The
// exporter's lenient reader of <extended>/run reads a null history entry as Go does:
// test/hardening/fuzz-layout.)
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OciLayout, type ConfigFile } from '../../oci/index.js';
import { fixture, isRoot } from '../helpers/fixtures.js';
import { applyCli, expectFailedApplyClean, hasDist } from './hostile.js';
import { watchOutside } from './outside.js';

const CASES: Array<[string, (c: ConfigFile) => unknown, RegExp]> = [
  ['Env as a string', (c) => ({ ...c, config: { ...c.config, Env: 'PATH=/bin' } }), /config\.Env is not a list of strings/],
  ['a null history entry', (c) => ({ ...c, history: [null, ...(c.history ?? [])] }), /history\[0\] is not an object/],
  ['a label with a number', (c) => ({ ...c, config: { ...c.config, Labels: { a: 1 } } }), /config\.Labels is not a map of strings/],
  ['User as a number', (c) => ({ ...c, config: { ...c.config, User: 0 } }), /config\.User is not a string/],
  ['config as a list', (c) => ({ ...c, config: [] }), /"config" is not an object/],
  ['Cmd with a number', (c) => ({ ...c, config: { ...c.config, Cmd: ['sh', 1] } }), /config\.Cmd is not a list of strings/],
];

/** Rewrites the config of the layout's `latest` image as `bend` says, by hand (oci's writers refuse such configs). */
async function bendConfig(dir: string, bend: (c: ConfigFile) => unknown): Promise<void> {
  const layout = await OciLayout.open(dir);
  const img = await layout.image({ tag: 'latest' });
  const config = Buffer.from(JSON.stringify(bend(JSON.parse(img.rawConfig.toString('utf8')) as ConfigFile)));
  const c = await layout.blobs.put(config);
  const manifest = Buffer.from(JSON.stringify({ ...img.manifest, config: { ...img.manifest.config, digest: c.digest, size: c.size } }));
  const m = await layout.blobs.put(manifest);
  const indexPath = join(dir, 'index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { manifests: Array<{ digest: string; size: number; annotations?: Record<string, string> }> };
  for (const d of index.manifests) {
    if (d.annotations?.['org.opencontainers.image.ref.name'] === 'latest') Object.assign(d, { digest: m.digest, size: m.size });
  }
  writeFileSync(indexPath, JSON.stringify(index));
}

describe.runIf(isRoot && hasDist)('base image configs with fields of the wrong type', () => {
  it.each(CASES)('%s → apply exits 6 naming the config and the field, leaves nothing', async (_n, bend, says) => {
    const watch = await watchOutside();
    const scratch = await watch.scratch();
    const dir = join(scratch, 'base');
    cpSync(fixture('busybox'), dir, { recursive: true });
    await bendConfig(dir, bend);
    const r = await applyCli(join(scratch, 'cli'), dir);
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toMatch(says);
    expect(r.stderr).toMatch(/config sha256:[a-f0-9]{64}/);
    expect(r.stderr).not.toMatch(/TypeError|is not a function|internal error/);
    await expectFailedApplyClean(r);
    await watch.assertUnchanged();
  });
});
