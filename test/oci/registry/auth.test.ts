// Auth against the in-process fake: the Bearer token dance with scopes (the real docker-registry
// here only does htpasswd Basic), credentials sources, refresh on 401, and no credential leaks.
import { afterEach, describe, expect, it } from 'vitest';
import { isRegistryError, keychainFromInputs, Registry, staticKeychain, type Keychain } from '../../../oci/index.js';
import { FakeRegistry, selfSignedCert } from '../../helpers/fake-registry.js';
import { tmpDir } from '../../helpers/tmp.js';
import { memoryImage } from './images.js';
import { clientFor, errorText, readAll, recordingLogger, rejection, seed } from './support.js';

const PASSWORD = 'pw-S3cret-value';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

let fake: FakeRegistry;
let reg: Registry | undefined;
afterEach(async () => {
  await reg?.close();
  reg = undefined;
  await fake.close();
});

const img = memoryImage({ layers: [{ 'etc/hello': 'hi\n' }, { 'bin/tool': '#!/bin/sh\n' }], label: 'auth' });

function tokenScopes(f: FakeRegistry): string[][] {
  return f.requestsTo('token').map((r) => new URL(r.url, 'http://x').searchParams.getAll('scope'));
}

describe('Bearer token auth', () => {
  it('anonymous pull: one token for the pull scope, reused for every request', async () => {
    fake = await FakeRegistry.start({ auth: { kind: 'bearer', anonymousPull: true } });
    seed(fake, 'library/app', 'v1', img);
    reg = clientFor(fake.host);
    const got = await reg.image(`${fake.host}/library/app:v1`);
    for (const l of got.layers) expect((await readAll(await l.open())).length).toBe(l.descriptor.size);
    expect(got.digest).toBe(img.digest);
    const tokenReqs = fake.requestsTo('token');
    expect(tokenReqs).toHaveLength(1);
    const q = new URL(tokenReqs[0]!.url, 'http://x').searchParams;
    expect(q.get('service')).toBe('fake-registry');
    expect(q.getAll('scope')).toEqual(['repository:library/app:pull']);
    expect(tokenReqs[0]!.headers.authorization).toBeUndefined();
    const authed = fake.requestsTo('registry', /^\/v2\/library\/app\//);
    expect(authed.length).toBeGreaterThanOrEqual(4); // manifest, config, 2 layers
    expect(authed.every((r) => r.headers.authorization?.startsWith('Bearer '))).toBe(true);
  });

  it('push with credentials asks for pull,push; a later pull reuses that token', async () => {
    fake = await FakeRegistry.start({ auth: { kind: 'bearer', users: { alice: PASSWORD } } });
    const log = recordingLogger();
    reg = clientFor(fake.host, { keychain: staticKeychain({ [fake.host]: { kind: 'basic', username: 'alice', password: PASSWORD } }), log });
    await reg.write(`${fake.host}/team/app:v1`, img);
    expect(fake.manifests.get('team/app')?.get('v1')?.raw.equals(img.rawManifest)).toBe(true);
    const first = fake.requestsTo('token')[0]!;
    expect(first.headers.authorization).toBe(`Basic ${b64(`alice:${PASSWORD}`)}`);
    expect(new URL(first.url, 'http://x').searchParams.get('account')).toBe('alice');
    expect(tokenScopes(fake)).toEqual([['repository:team/app:pull,push']]);
    const pulled = await reg.image(`${fake.host}/team/app:v1`);
    expect(pulled.digest).toBe(img.digest);
    expect(fake.requestsTo('token')).toHaveLength(1);
    expect(log.lines.join('\n')).not.toContain(PASSWORD);
  });

  it('cross-repository mount: pull scope on the source, POST ?mount=&from=, no upload', async () => {
    fake = await FakeRegistry.start({ auth: { kind: 'bearer', users: { alice: PASSWORD } } });
    reg = clientFor(fake.host, { keychain: staticKeychain({ [fake.host]: { kind: 'basic', username: 'alice', password: PASSWORD } }) });
    await reg.write(`${fake.host}/team/base:v1`, img);
    const before = fake.requests.length;
    await reg.write(`${fake.host}/team/derived:v1`, img, { mountFrom: ['team/base'] });
    const later = fake.requests.slice(before);
    const mounts = later.filter((r) => r.method === 'POST' && r.url.includes('mount='));
    expect(mounts).toHaveLength(img.blobs.size);
    for (const m of mounts) expect(new URL(m.url, 'http://x').searchParams.get('from')).toBe('team/base');
    expect(later.filter((r) => r.method === 'PUT' && r.url.includes('/blobs/uploads/'))).toHaveLength(0);
    expect(tokenScopes(fake).at(-1)).toEqual(expect.arrayContaining(['repository:team/derived:pull,push', 'repository:team/base:pull']));
    expect(fake.repoBlobs.get('team/derived')?.size).toBe(img.blobs.size);
  });

  it('a revoked token is refreshed once on 401 and the request succeeds', async () => {
    fake = await FakeRegistry.start({ auth: { kind: 'bearer', anonymousPull: true } });
    seed(fake, 'a/b', 't', img);
    reg = clientFor(fake.host);
    await reg.manifest(`${fake.host}/a/b:t`);
    fake.revokeTokens();
    const m = await reg.manifest(`${fake.host}/a/b:t`);
    expect(m.digest).toBe(img.digest);
    expect(fake.requestsTo('token')).toHaveLength(2);
  });

  it('an identity token is exchanged with an OAuth2 refresh_token POST', async () => {
    fake = await FakeRegistry.start({ auth: { kind: 'bearer', identityTokens: { alice: 'refresh-tok-S3cret' } } });
    seed(fake, 'a/b', 't', img);
    reg = clientFor(fake.host, { keychain: staticKeychain({ [fake.host]: { kind: 'identityToken', token: 'refresh-tok-S3cret' } }) });
    expect((await reg.manifest(`${fake.host}/a/b:t`)).digest).toBe(img.digest);
    const t = fake.requestsTo('token');
    expect(t.map((r) => r.method)).toEqual(['POST']);
    expect(t[0]!.url).toBe('/token'); // the refresh token travels in the body, never in the URL
  });

  it('a Bearer value from CNB_REGISTRY_AUTH is used as is, without a token request', async () => {
    fake = await FakeRegistry.start({ auth: { kind: 'bearer' } });
    seed(fake, 'a/b', 't', img);
    fake.tokens.set('pre-issued-S3cret', { scopes: new Set(['repository:a/b:pull']), expiresAt: Date.now() + 60_000 });
    const keychain = keychainFromInputs({ env: { CNB_REGISTRY_AUTH: JSON.stringify({ [fake.host]: 'Bearer pre-issued-S3cret' }) } });
    reg = clientFor(fake.host, { keychain });
    expect((await reg.manifest(`${fake.host}/a/b:t`)).digest).toBe(img.digest);
    expect(fake.requestsTo('token')).toHaveLength(0);
  });

  it('anonymous push is refused with UNAUTHORIZED (the token grants pull only)', async () => {
    fake = await FakeRegistry.start({ auth: { kind: 'bearer', anonymousPull: true } });
    reg = clientFor(fake.host);
    const e = await rejection(reg.write(`${fake.host}/a/b:t`, img));
    expect(isRegistryError(e) && e.code).toBe('UNAUTHORIZED');
    expect((e as { status: number }).status).toBe(401);
  });

  it('a wrong password fails with UNAUTHORIZED and appears nowhere: not in the error, its cause, or the log', async () => {
    fake = await FakeRegistry.start({ auth: { kind: 'bearer', users: { alice: 'right' } } });
    seed(fake, 'a/b', 't', img);
    const log = recordingLogger();
    reg = clientFor(fake.host, { keychain: staticKeychain({ [fake.host]: { kind: 'basic', username: 'alice', password: PASSWORD } }), log });
    const e = await rejection(reg.image(`${fake.host}/a/b:t`));
    expect(isRegistryError(e) && e.code).toBe('UNAUTHORIZED');
    expect(await reg.checkReadAccess(`${fake.host}/a/b:t`)).toBe(false);
    const everything = `${errorText(e)}\n${log.lines.join('\n')}`;
    for (const secret of [PASSWORD, b64(`alice:${PASSWORD}`)]) expect(everything).not.toContain(secret);
  });
});

describe('Basic auth and access checks', () => {
  const keychain = (password: string): Keychain => staticKeychain({ [fake.host]: { kind: 'basic', username: 'bob', password } });

  it('sends Basic on every request when the ping says Basic', async () => {
    fake = await FakeRegistry.start({ auth: { kind: 'basic', users: { bob: PASSWORD } } });
    seed(fake, 'a/b', 't', img);
    reg = clientFor(fake.host, { keychain: keychain(PASSWORD) });
    const got = await reg.image(`${fake.host}/a/b:t`);
    await readAll(await got.layers[0]!.open());
    const calls = fake.requestsTo('registry', /^\/v2\/a\/b\//);
    expect(calls.every((r) => r.headers.authorization === `Basic ${b64(`bob:${PASSWORD}`)}`)).toBe(true);
    expect(await reg.checkReadAccess(`${fake.host}/a/b:t`)).toBe(true);
  });

  it('anonymous or wrong credentials: UNAUTHORIZED, and checkReadAccess is false; a 404 is not accessible either', async () => {
    fake = await FakeRegistry.start({ auth: { kind: 'basic', users: { bob: 'right' } } });
    seed(fake, 'a/b', 't', img);
    const log = recordingLogger();
    reg = clientFor(fake.host, { log });
    expect(isRegistryError(await rejection(reg.manifest(`${fake.host}/a/b:t`)))).toBe(true);
    expect(await reg.checkReadAccess(`${fake.host}/a/b:t`)).toBe(false);
    await reg.close();
    reg = clientFor(fake.host, { keychain: keychain(PASSWORD), log });
    const e = await rejection(reg.manifest(`${fake.host}/a/b:t`));
    expect(isRegistryError(e) && e.code).toBe('UNAUTHORIZED');
    expect(await reg.checkReadAccess(`${fake.host}/a/b:t`)).toBe(false);
    expect(`${errorText(e)}\n${log.lines.join('\n')}`).not.toContain(PASSWORD);
    await reg.close();
    reg = clientFor(fake.host, { keychain: keychain('right') });
    expect(await reg.checkReadAccess(`${fake.host}/a/b:t`)).toBe(true);
    expect(await reg.checkReadAccess(`${fake.host}/a/b:missing`)).toBe(false);
    expect(await reg.head(`${fake.host}/a/b:missing`)).toBeNull();
  });

  it('TLS: a self-signed registry is reachable only when named insecure (then over HTTPS, not HTTP)', async () => {
    fake = await FakeRegistry.start({ tls: selfSignedCert(await tmpDir()) });
    seed(fake, 'a/b', 't', img);
    reg = new Registry({ retry: { attempts: 1 } });
    const e = await rejection(reg.manifest(`${fake.host}/a/b:t`));
    expect(isRegistryError(e) && e.code).toBe('REGISTRY');
    expect(fake.requests).toHaveLength(0);
    await reg.close();
    reg = clientFor(fake.host);
    expect((await reg.manifest(`${fake.host}/a/b:t`)).digest).toBe(img.digest);
    expect(fake.requests.length).toBeGreaterThan(0);
  });

  it('plain HTTP only for registries named insecure', async () => {
    fake = await FakeRegistry.start();
    seed(fake, 'a/b', 't', img);
    reg = new Registry({ retry: { attempts: 1 } });
    const e = await rejection(reg.manifest(`${fake.host}/a/b:t`));
    expect(isRegistryError(e) && e.code).toBe('REGISTRY');
    expect((e as Error).message).toContain(`https://${fake.host}/v2/`);
    expect(fake.requests).toHaveLength(0);
  });
});
