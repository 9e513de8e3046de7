// `cnb-extender restore` against docker-registry with htpasswd Basic auth: credentials from
// CNB_REGISTRY_AUTH and from DOCKER_CONFIG, refusal without them, and no credential in the output
// even at -log-level debug (stacks included).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OciLayout, staticKeychain, type Image } from '../../oci/index.js';
import { readAnalyzed } from '../../src/cnb/index.js';
import { runRestore } from '../../src/cli/restore.js';
import { fixture } from '../helpers/fixtures.js';
import { useRegistry } from '../helpers/registry.js';
import { tmpDir } from '../helpers/tmp.js';
import { clientFor } from '../oci/registry/support.js';
import { analyzedToml, captureIO, cnbTree, GROUP_WITHOUT_EXTENSIONS, runToml } from './helpers.js';

const USER = 'restorer';
const PASSWORD = 'htpasswd-R3store-pw';
const WRONG = 'wrong-R3store-pw';
const server = useRegistry({ auth: { username: USER, password: PASSWORD } });
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const SECRETS = [PASSWORD, WRONG, b64(`${USER}:${PASSWORD}`), b64(`${USER}:${WRONG}`)];

let busybox: Image;
beforeAll(async () => {
  busybox = await (await OciLayout.open(fixture('busybox'))).image({ tag: 'latest' });
  const h = server().host;
  const c = clientFor(h, { keychain: staticKeychain({ [h]: { kind: 'basic', username: USER, password: PASSWORD } }) });
  await c.write(`${h}/private/run:latest`, busybox);
  await c.close();
});

async function restoreWith(env: Record<string, string>) {
  const h = server().host;
  const image = `${h}/private/run:latest`;
  const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: analyzedToml({ image, reference: image, extend: true }), run: runToml([{ image }]) });
  const c = captureIO();
  const code = await runRestore(
    ['-layers', t.layers, '-kaniko-dir', t.kaniko, '-run', t.run, '-build-image', image, '-insecure-registry', h, '-log-level', 'debug'],
    { CNB_PLATFORM_API: '0.14', HOME: '/nonexistent', ...env },
    c.io,
  );
  const output = c.out() + c.err();
  for (const s of SECRETS) expect(output).not.toContain(s);
  return { code, output, t };
}

describe('restore with registry credentials (htpasswd)', () => {
  it('CNB_REGISTRY_AUTH: access check, build and run image pulled', async () => {
    const h = server().host;
    const r = await restoreWith({ CNB_REGISTRY_AUTH: JSON.stringify({ [h]: `Basic ${b64(`${USER}:${PASSWORD}`)}` }) });
    expect(r.code, r.output).toBe(0);
    const a = await readAnalyzed(r.t.analyzed);
    expect(a.buildImage?.reference).toBe(`${h}/private/run@${busybox.digest}`);
    expect(a.runImage?.reference).toBe(`${h}/private/run@${busybox.digest}`);
  });

  it('DOCKER_CONFIG/config.json auths', async () => {
    const h = server().host;
    const dir = await tmpDir();
    await mkdir(join(dir, 'docker'));
    await writeFile(join(dir, 'docker', 'config.json'), JSON.stringify({ auths: { [h]: { auth: b64(`${USER}:${PASSWORD}`) } } }));
    const r = await restoreWith({ DOCKER_CONFIG: join(dir, 'docker') });
    expect(r.code, r.output).toBe(0);
  });

  it('no credentials or a wrong password: the build image cannot be pulled (exit 1), no secret printed', async () => {
    const h = server().host;
    const none = await restoreWith({});
    expect(none.code).toBe(1);
    expect(none.output).toContain(`ERROR: failed to pull builder image ${h}/private/run:latest: `);
    const wrong = await restoreWith({ CNB_REGISTRY_AUTH: JSON.stringify({ [h]: `Basic ${b64(`${USER}:${WRONG}`)}` }) });
    expect(wrong.code).toBe(1);
    expect(wrong.output).toMatch(/UNAUTHORIZED|401|unauthorized/i);
  });

  it('the access check alone (no build image): refused without credentials with the lifecycle message', async () => {
    const h = server().host;
    const image = `${h}/private/run:latest`;
    const t = await cnbTree({ group: GROUP_WITHOUT_EXTENSIONS, analyzed: analyzedToml({ image, reference: image, extend: true }), run: runToml([{ image }]) });
    const c = captureIO();
    const code = await runRestore(['-layers', t.layers, '-kaniko-dir', t.kaniko, '-run', t.run, '-insecure-registry', h], { CNB_PLATFORM_API: '0.14', CNB_REGISTRY_AUTH: JSON.stringify({ [h]: `Basic ${b64(`${USER}:${WRONG}`)}` }) }, c.io);
    expect(code).toBe(1);
    expect(c.out()).toContain(`ERROR: selected run image '${image}' is not accessible\n`);
    for (const s of SECRETS) expect(c.out() + c.err()).not.toContain(s);
  });
});
