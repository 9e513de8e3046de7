import { describe, expect, it } from 'vitest';
import { isOciError, Reference } from '../../../oci/index.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('Reference.parse', () => {
  it.each([
    // input, registry, repository, tag, digest, host
    ['busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'registry-1.docker.io'],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined, 'registry-1.docker.io'],
    ['paketobuildpacks/run-jammy-base', 'docker.io', 'paketobuildpacks/run-jammy-base', 'latest', undefined, 'registry-1.docker.io'],
    ['docker.io/busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'registry-1.docker.io'],
    ['index.docker.io/library/busybox:x', 'docker.io', 'library/busybox', 'x', undefined, 'registry-1.docker.io'],
    ['localhost/foo', 'localhost', 'foo', 'latest', undefined, 'localhost'],
    ['localhost:5000/foo/bar:1.0', 'localhost:5000', 'foo/bar', '1.0', undefined, 'localhost:5000'],
    ['127.0.0.1:5000/a/b/c', '127.0.0.1:5000', 'a/b/c', 'latest', undefined, '127.0.0.1:5000'],
    [`127.0.0.1:5000/a@${D}`, '127.0.0.1:5000', 'a', undefined, D, '127.0.0.1:5000'],
    [`gcr.io/p/img:v1@${D}`, 'gcr.io', 'p/img', 'v1', D, 'gcr.io'],
    ['Registry.Example.com/x__y.z-w', 'Registry.Example.com', 'x__y.z-w', 'latest', undefined, 'Registry.Example.com'],
    ['[::1]:5000/x', '[::1]:5000', 'x', 'latest', undefined, '[::1]:5000'],
    ['ghcr.io/a/b:_under.score-1', 'ghcr.io', 'a/b', '_under.score-1', undefined, 'ghcr.io'],
  ])('%s', (input, registry, repository, tag, digest, host) => {
    const r = Reference.parse(input);
    expect({ registry: r.registry, repository: r.repository, tag: r.tag, digest: r.digest, host: r.host }).toEqual({ registry, repository, tag, digest, host });
  });

  it.each([
    ['', 'empty'],
    ['Busybox', 'repository component'],
    ['a//b', 'repository component'],
    ['a/', 'repository component'],
    ['localhost:5000/', 'missing repository'],
    ['foo:bad tag', 'whitespace'],
    ['foo:-x', 'tag'],
    [`foo:${'t'.repeat(129)}`, 'tag'],
    ['foo@sha256:abc', 'digest'],
    [`foo@md5:${'a'.repeat(32)}`, 'digest'],
    [`foo@sha256:${'A'.repeat(64)}`, 'digest'],
    ['exa_mple.com/foo', 'registry'],
    [`r.io/${'a'.repeat(260)}`, 'longer than 255'],
    ['foo/bar$', 'repository component'],
  ])('rejects %j (%s) with INVALID_REFERENCE', (input, why) => {
    let err: unknown;
    try {
      Reference.parse(input);
    } catch (e) {
      err = e;
    }
    expect(isOciError(err, 'INVALID_REFERENCE')).toBe(true);
    expect((err as Error).message).toContain(why);
    expect((err as { reference?: string }).reference).toBe(input);
  });

  it('formats back to a normalised string and round-trips', () => {
    for (const s of ['busybox', 'docker.io/library/busybox:latest', `r.io:1/a/b:t@${D}`, `r.io/a@${D}`]) {
      const r = Reference.parse(s);
      expect(Reference.parse(r.toString()).toString()).toBe(r.toString());
    }
    expect(Reference.parse('busybox').toString()).toBe('docker.io/library/busybox:latest');
    expect(Reference.parse(`r.io/a:t@${D}`).toString()).toBe(`r.io/a:t@${D}`);
  });

  it('pins by digest: identifier prefers the digest, withDigest drops the tag', () => {
    const r = Reference.parse(`r.io/a:t@${D}`);
    expect(r.identifier).toBe(D);
    expect(Reference.parse('r.io/a:t').identifier).toBe('t');
    expect(Reference.parse('r.io/a:t').withDigest(D as never).toString()).toBe(`r.io/a@${D}`);
    expect(Reference.parse('r.io/a', { defaultTag: false }).tag).toBeUndefined();
    expect(Reference.parse('r.io/a:t').inRepository('other/x').toString()).toBe('r.io/other/x:t');
    expect(Reference.parse('r.io/a:t').name).toBe('r.io/a');
  });
});
