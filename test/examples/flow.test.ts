// examples/flow.ts (the library's restorer → extender → exporter flow, docs/api.md) runs as written
// against a real registry (docker-registry) holding the busybox fixture, and its result is a valid
// app image that has the extension's file, label and user, and the app.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { flow } from '../../examples/flow.js';
import { OciLayout, Registry, validateLayout } from '../../oci/index.js';
import { fixture, hasCommand, isRoot } from '../helpers/fixtures.js';
import { useRegistry } from '../helpers/registry.js';
import { tmpDir } from '../helpers/tmp.js';

const reg = useRegistry();
const clients: Registry[] = [];
afterEach(async () => {
  while (clients.length > 0) await clients.pop()!.close();
});
const client = () => {
  const r = new Registry({ insecure: [reg().host] });
  clients.push(r);
  return r;
};

let runRef: string;
beforeAll(async () => {
  const busybox = await (await OciLayout.open(fixture('busybox'))).image({ tag: 'latest' });
  runRef = `${reg().host}/samples/run:latest`;
  await client().write(runRef, busybox);
});

describe.skipIf(!isRoot)('examples/flow.ts', () => {
  it('restore → extend → export gives an app image on the extended run image', async () => {
    const work = await tmpDir('cnbx-flow-');
    const r = await flow({ runImage: runRef, workDir: work, registry: client() });

    expect(r.runImage).toMatch(new RegExp(`^${reg().host}/samples/run@sha256:[0-9a-f]{64}$`));
    expect(r.extended.newLayers).toBe(1);
    expect(r.extended.dir).toBe(join(work, 'layers', 'extended', 'run', r.extended.digest));
    await validateLayout(r.app.layout);
    const app = await (await OciLayout.open(r.app.layout)).image({ tag: 'latest' });
    expect(app.digest).toBe(r.app.digest);
    expect(app.config.config?.Labels?.['com.example.extended']).toBe('true');
    expect(app.config.config?.User).toBe('1000');

    expect(hasCommand('umoci')).toBe(true);
    const bundle = join(work, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${r.app.layout}:latest`, bundle], { stdio: 'pipe' });
    expect(await readFile(join(bundle, 'rootfs', 'opt', 'hello', 'greeting'), 'utf8')).toBe('installed by an image extension\n');
    expect(await readFile(join(bundle, 'rootfs', 'workspace', 'index.html'), 'utf8')).toBe('<h1>hello</h1>\n');
  });
});
