import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isOciError, keychainFromInputs, parseChallenges, parseRegistryAuthEnv, staticKeychain } from '../../../oci/index.js';
import { tmpDir } from '../../helpers/tmp.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function recorder(): { log: { debug: (m: string) => void; info: (m: string) => void; warn: (m: string) => void; error: (m: string) => void }; lines: string[] } {
  const lines: string[] = [];
  const push = (m: string): void => void lines.push(m);
  return { log: { debug: push, info: push, warn: push, error: push }, lines };
}

describe('CNB_REGISTRY_AUTH', () => {
  it('maps Basic to user/password and Bearer to a registry token', async () => {
    const kc = parseRegistryAuthEnv(JSON.stringify({ 'r.io': `Basic ${b64('u:p:with:colons')}`, 'other.io:5000': 'Bearer tok123' }));
    expect(await kc.resolve('r.io')).toEqual({ kind: 'basic', username: 'u', password: 'p:with:colons' });
    expect(await kc.resolve('other.io:5000')).toEqual({ kind: 'registryToken', token: 'tok123' });
    expect(await kc.resolve('third.io')).toBeNull();
  });

  it('accepts Docker Hub under any of its names', async () => {
    const kc = parseRegistryAuthEnv(JSON.stringify({ 'index.docker.io': `Basic ${b64('u:p')}` }));
    expect(await kc.resolve('docker.io')).toMatchObject({ username: 'u' });
  });

  it.each([
    ['{"r.io": "Basic s3cr3tNotB64UserPass"}', 'user:password'],
    ['{"r.io": "Digest s3cr3t"}', 'Basic <base64>'],
    ['{"r.io": 7}', 'must be a string'],
    ['["s3cr3t"]', 'JSON object'],
    ['{"r.io": "Basic s3cr3t', 'not valid JSON'],
  ])('rejects %s without echoing the secret', (json, why) => {
    let err: unknown;
    try {
      parseRegistryAuthEnv(json);
    } catch (e) {
      err = e;
    }
    expect(isOciError(err, 'INVALID_JSON')).toBe(true);
    expect((err as Error).message).toContain(why);
    expect(JSON.stringify({ m: (err as Error).message, c: String((err as Error).cause ?? '') })).not.toContain('s3cr3t');
  });
});

describe('keychainFromInputs', () => {
  it('reads $DOCKER_CONFIG/config.json: auth, username/password, identitytoken, https://…/v1/ keys', async () => {
    const dir = await tmpDir();
    await writeFile(join(dir, 'config.json'), JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') },
        'http://r.io:5000/v2/': { username: 'ru', password: 'rp' },
        'id.io': { auth: b64('<token>:'), identitytoken: 'refresh-me' },
        'empty.io': { auth: '' },
      },
      credHelpers: { 'gcr.io': 'gcloud' },
    }));
    const { log, lines } = recorder();
    const kc = keychainFromInputs({ env: { DOCKER_CONFIG: dir }, log });
    expect(await kc.resolve('docker.io')).toEqual({ kind: 'basic', username: 'hubuser', password: 'hubpass' });
    expect(await kc.resolve('r.io:5000')).toEqual({ kind: 'basic', username: 'ru', password: 'rp' });
    expect(await kc.resolve('id.io')).toEqual({ kind: 'identityToken', username: '<token>', token: 'refresh-me' });
    expect(await kc.resolve('empty.io')).toBeNull();
    expect(await kc.resolve('gcr.io')).toBeNull();
    expect(lines.some((l) => l.includes('credHelpers'))).toBe(true);
    expect(lines.join('\n')).not.toMatch(/hubpass|refresh-me|rp\b/);
  });

  it('falls back to $HOME/.docker/config.json, prefers an explicit path, and CNB_REGISTRY_AUTH wins over both', async () => {
    const home = await tmpDir();
    await mkdir(join(home, '.docker'));
    await writeFile(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'r.io': { auth: b64('home:h') } } }));
    const other = join(home, 'other.json');
    await writeFile(other, JSON.stringify({ auths: { 'r.io': { auth: b64('explicit:e') } } }));
    expect(await keychainFromInputs({ env: { HOME: home } }).resolve('r.io')).toMatchObject({ username: 'home' });
    expect(await keychainFromInputs({ env: { HOME: home }, dockerConfigPath: other }).resolve('r.io')).toMatchObject({ username: 'explicit' });
    const env = { HOME: home, CNB_REGISTRY_AUTH: JSON.stringify({ 'r.io': `Basic ${b64('env:x')}` }) };
    expect(await keychainFromInputs({ env }).resolve('r.io')).toMatchObject({ username: 'env' });
  });

  it('a missing config file means no credentials; process.env is never read', async () => {
    const home = await tmpDir();
    process.env.CNB_REGISTRY_AUTH = JSON.stringify({ 'r.io': `Basic ${b64('leak:y')}` });
    process.env.DOCKER_CONFIG = home;
    try {
      expect(await keychainFromInputs({ env: { HOME: home } }).resolve('r.io')).toBeNull();
      expect(await keychainFromInputs({}).resolve('r.io')).toBeNull();
    } finally {
      delete process.env.CNB_REGISTRY_AUTH;
      delete process.env.DOCKER_CONFIG;
    }
  });

  it('a malformed config file is an error naming the file, not its content', async () => {
    const dir = await tmpDir();
    await writeFile(join(dir, 'config.json'), '{"auths": {"r.io": {"auth": "s3cr3t"');
    const err = await keychainFromInputs({ env: { DOCKER_CONFIG: dir } }).resolve('r.io').catch((e: unknown) => e);
    expect(isOciError(err, 'INVALID_JSON')).toBe(true);
    expect((err as Error).message).toContain(join(dir, 'config.json'));
    expect((err as Error).message).not.toContain('s3cr3t');
  });

  it('staticKeychain normalises keys like docker config keys', async () => {
    const kc = staticKeychain({ 'https://R.io:5000/v1/': { kind: 'registryToken', token: 't' } });
    expect(await kc.resolve('r.io:5000')).toEqual({ kind: 'registryToken', token: 't' });
  });
});

describe('parseChallenges', () => {
  it('parses Bearer with quoted params, Basic, several challenges in one header', () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
    ]);
    expect(parseChallenges(['Basic realm="a, b"', 'Bearer realm=https://x/t, error="insufficient_scope"'])).toEqual([
      { scheme: 'basic', params: { realm: 'a, b' } },
      { scheme: 'bearer', params: { realm: 'https://x/t', error: 'insufficient_scope' } },
    ]);
    expect(parseChallenges('Basic realm="x", Bearer realm="y"').map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(parseChallenges(undefined)).toEqual([]);
  });
});
