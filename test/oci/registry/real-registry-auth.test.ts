// docker-registry with htpasswd Basic auth: credentials from every keychain source, refusals
// without them, and no credential in any error or log line.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { isRegistryError, keychainFromInputs, OciLayout, staticKeychain, validateLayout, type Image } from '../../../oci/index.js';
import { fixture } from '../../helpers/fixtures.js';
import { startRegistry, useRegistry } from '../../helpers/registry.js';
import { tmpDir } from '../../helpers/tmp.js';
import { clientFor, errorText, recordingLogger, rejection } from './support.js';

const USER = 'xt';
const PASSWORD = 'htpasswd-S3cret-pw';
const server = useRegistry({ auth: { username: USER, password: PASSWORD } });
let busybox: Image;
beforeAll(async () => {
  busybox = await (await OciLayout.open(fixture('busybox'))).image({ tag: 'latest' });
});

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const secrets = [PASSWORD, b64(`${USER}:${PASSWORD}`), 'wrong-S3cret', b64(`${USER}:wrong-S3cret`)];

describe('docker-registry with htpasswd', () => {
  it('pushes with credentials from CNB_REGISTRY_AUTH, pulls with docker config.json; skopeo agrees', async () => {
    const h = server().host;
    const log = recordingLogger();
    const pusher = clientFor(h, { log, keychain: keychainFromInputs({ env: { CNB_REGISTRY_AUTH: JSON.stringify({ [h]: `Basic ${b64(`${USER}:${PASSWORD}`)}` }) } }) });
    const home = await tmpDir();
    await mkdir(join(home, '.docker'));
    await writeFile(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { [`http://${h}`]: { auth: b64(`${USER}:${PASSWORD}`) } } }));
    const puller = clientFor(h, { log, keychain: keychainFromInputs({ env: { HOME: home } }) });
    try {
      await pusher.write(`${h}/private/busybox:1`, busybox);
      expect(await puller.checkReadAccess(`${h}/private/busybox:1`)).toBe(true);
      const dir = join(await tmpDir(), 'out');
      const res = await puller.pull(`${h}/private/busybox:1`, dir);
      expect(res.descriptor.digest).toBe(busybox.digest);
      await validateLayout(dir);
    } finally {
      await pusher.close();
      await puller.close();
    }
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--creds', `${USER}:${PASSWORD}`, `docker://${h}/private/busybox:1`], { encoding: 'utf8' })) as { Digest: string };
    expect(inspected.Digest).toBe(busybox.digest);
    expect(log.lines.join('\n')).not.toMatch(new RegExp(secrets.map((s) => s.replace(/[+/=]/g, '\\$&')).join('|')));
  });

  it('anonymous and wrong-password clients are refused (UNAUTHORIZED, not readable), and the secret appears nowhere', async () => {
    const h = server().host;
    const setup = clientFor(h, { keychain: staticKeychain({ [h]: { kind: 'basic', username: USER, password: PASSWORD } }) });
    await setup.write(`${h}/private/busybox:2`, busybox);
    await setup.close();
    const log = recordingLogger();
    for (const keychain of [undefined, staticKeychain({ [h]: { kind: 'basic', username: USER, password: 'wrong-S3cret' } })]) {
      const c = clientFor(h, { log, ...(keychain ? { keychain } : {}) });
      try {
        expect(await c.checkReadAccess(`${h}/private/busybox:2`)).toBe(false);
        const target = join(await tmpDir(), 'x');
        const pullErr = await rejection(c.pull(`${h}/private/busybox:2`, target));
        expect(existsSync(target)).toBe(false);
        expect(isRegistryError(pullErr) && pullErr.code).toBe('UNAUTHORIZED');
        expect((pullErr as { status: number }).status).toBe(401);
        const pushErr = await rejection(c.write(`${h}/private/other:1`, busybox));
        expect(isRegistryError(pushErr) && pushErr.code).toBe('UNAUTHORIZED');
        const all = `${errorText(pullErr)}\n${errorText(pushErr)}\n${log.lines.join('\n')}`;
        for (const s of secrets) expect(all).not.toContain(s);
      } finally {
        await c.close();
      }
    }
  });
});

describe('the registry test helper', () => {
  it('stop() kills the registry; a vanished test process takes it down too (watchdog)', async () => {
    const pids = (dir: string): string => {
      try {
        return execFileSync('pgrep', ['-f', `${dir}/config.yml`], { encoding: 'utf8' }).trim();
      } catch {
        return '';
      }
    };
    const a = await startRegistry();
    expect(pids(a.dir)).not.toBe('');
    await a.stop();
    expect(pids(a.dir)).toBe('');
    await expect(fetch(`${a.url}/v2/`)).rejects.toThrow();

    const stand_in = spawn('sleep', ['60'], { stdio: 'ignore' });
    const b = await startRegistry({ watchPid: stand_in.pid! });
    try {
      expect((await fetch(`${b.url}/v2/`)).status).toBe(200);
      stand_in.kill('SIGKILL');
      let gone = false;
      for (let i = 0; i < 50 && !gone; i++) {
        await sleep(100);
        gone = pids(b.dir) === '';
      }
      expect(gone).toBe(true);
    } finally {
      stand_in.kill('SIGKILL');
      await b.stop();
    }
  });
});
