import { describe, expect, it } from 'vitest';
import type { ConfigFile, Digest } from '../../oci/index.js';
import type { DockerfileRef } from '../../src/extender/dockerfiles.js';
import { ExtenderError } from '../../src/extender/errors.js';
import { ExtensionPolicy, extensionLayerName, isRebasable, isRootUser, normalizedHistory, ZERO_TIME } from '../../src/extender/policy.js';
import { memoryLogger } from '../../src/log.js';

const d = (n: number) => `sha256:${String(n).padStart(64, '0')}` as Digest;

function cfg(o: { user?: string; labels?: Record<string, string>; layers: number; history?: ConfigFile['history'] }): ConfigFile {
  return {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { ...(o.user !== undefined ? { User: o.user } : {}), ...(o.labels ? { Labels: o.labels } : {}) },
    rootfs: { type: 'layers', diff_ids: Array.from({ length: o.layers }, (_, i) => d(i)) },
    ...(o.history ? { history: o.history } : {}),
  };
}

const df = (id: string): DockerfileRef => ({ extensionId: id, kind: 'run', path: `/g/${id}/run.Dockerfile`, configPath: '', contextDir: '/w', args: [] });

describe('rebasable label (§3.4, §9.16)', () => {
  // The lifecycle's unit-test truth table: only true/true stays true.
  const rows: [string | undefined, string | undefined, string][] = [
    ['true', 'true', 'true'],
    ['true', 'false', 'false'],
    ['false', 'true', 'false'],
    [undefined, 'true', 'false'],
    ['true', undefined, 'false'],
    ['yes', 'true', 'false'],
    ['1', 'T', 'true'],
  ];
  for (const [a, b, want] of rows) {
    it(`${a} then ${b} → ${want}`, () => {
      const p = new ExtensionPolicy('run', cfg({ layers: 1, user: '1000' }), memoryLogger());
      p.afterDockerfile(df('a'), cfg({ layers: 1, user: '1000', ...(a ? { labels: { 'io.buildpacks.rebasable': a } } : {}) }));
      p.afterDockerfile(df('b'), cfg({ layers: 1, user: '1000', ...(b ? { labels: { 'io.buildpacks.rebasable': b } } : {}) }));
      p.finish();
      expect(p.finalConfig().config?.Labels?.['io.buildpacks.rebasable']).toBe(want);
    });
  }

  it('is always written for run, even with no Dockerfiles, and never for build', () => {
    const run = new ExtensionPolicy('run', cfg({ layers: 1, user: '1' }), memoryLogger());
    run.finish();
    expect(run.finalConfig().config?.Labels).toEqual({ 'io.buildpacks.rebasable': 'true' });
    const build = new ExtensionPolicy('build', cfg({ layers: 1, user: '1' }), memoryLogger());
    build.afterDockerfile(df('a'), cfg({ layers: 1, user: '1' }));
    build.finish();
    expect(build.finalConfig().config?.Labels).toBeUndefined();
  });

  it('isRebasable parses like strconv.ParseBool', () => {
    expect(isRebasable(cfg({ layers: 0, labels: { 'io.buildpacks.rebasable': 'True' } }))).toBe(true);
    expect(isRebasable(cfg({ layers: 0, labels: { 'io.buildpacks.rebasable': 'tRUE' } }))).toBe(false);
    expect(isRebasable(cfg({ layers: 0 }))).toBe(false);
  });
});

describe('history (§3.6, §9.17)', () => {
  it('normalises the base history (drops empty_layer; blanks when counts differ)', () => {
    const h = [{ created_by: 'a' }, { created_by: 'env', empty_layer: true }, { created_by: 'b' }];
    expect(normalizedHistory(h, 2)).toEqual([{ created_by: 'a' }, { created_by: 'b' }]);
    expect(normalizedHistory(h, 3)).toEqual([{ created: ZERO_TIME }, { created: ZERO_TIME }, { created: ZERO_TIME }]);
    expect(normalizedHistory(undefined, 1)).toEqual([{ created: ZERO_TIME }]);
  });

  it('appends one renamed entry per new layer; len(history) == len(diff_ids); created zeroed', () => {
    const base = cfg({ layers: 2, user: '1000', history: [{ created_by: 'FROM base' }, { created_by: 'CMD x', empty_layer: true }, { created_by: 'base 2' }] });
    const p = new ExtensionPolicy('run', base, memoryLogger());
    p.afterDockerfile(
      df('curl'),
      cfg({ layers: 4, user: '1000', history: [...base.history!, { created_by: 'RUN apt-get install curl' }, { created_by: 'USER root', empty_layer: true }, { created_by: 'COPY run-file /' }] }),
    );
    p.afterDockerfile(df('org/tree'), cfg({ layers: 5, user: '1000', history: [...base.history!, { created_by: 'x' }, { created_by: 'y' }, { created_by: 'RUN tree' }] }));
    p.finish();
    const f = p.finalConfig();
    expect(f.created).toBe(ZERO_TIME);
    expect(f.history?.map((h) => h.created_by)).toEqual([
      'FROM base',
      'base 2',
      "Layer: 'RUN apt-get install curl', Created by extension: curl",
      "Layer: 'COPY run-file /', Created by extension: curl",
      "Layer: 'RUN tree', Created by extension: org/tree",
    ]);
    expect(f.history).toHaveLength(f.rootfs.diff_ids.length);
    expect(extensionLayerName('RUN x', 'e')).toBe("Layer: 'RUN x', Created by extension: e");
  });
});

describe('user checks (§3.3, §9.15)', () => {
  it('isRoot: uid part 0 or root; empty is not root', () => {
    expect([isRootUser('0'), isRootUser('root'), isRootUser(''), isRootUser('1000'), isRootUser('rootless')]).toEqual([true, true, false, false, false]);
  });

  it('an intermediate root user warns; a final root user fails kind=run with the exact message', () => {
    const log = memoryLogger();
    const p = new ExtensionPolicy('run', cfg({ layers: 1, user: '1000:1000' }), log);
    p.afterDockerfile(df('a'), cfg({ layers: 1, user: 'root' }));
    expect(log.lines).toEqual([
      'warn: Extension from /g/a/run.Dockerfile changed the user ID from 1000 to root; this must not be the final user ID (a following extension must reset the user).',
    ]);
    p.afterDockerfile(df('b'), cfg({ layers: 1, user: '0:5678' }));
    const e = (() => {
      try {
        p.finish();
      } catch (x) {
        return x;
      }
    })() as ExtenderError;
    expect(e).toBeInstanceOf(ExtenderError);
    expect(e.code).toBe('FINAL_USER_ROOT');
    expect(e.message).toBe('the final user ID is 0 (root); please add another extension that resets the user to non-root');
  });

  it('kind=build allows a final root user; a changed user warns; empty user passes', () => {
    const log = memoryLogger();
    const p = new ExtensionPolicy('build', cfg({ layers: 1, user: '1000' }), log);
    p.afterDockerfile(df('a'), cfg({ layers: 1, user: '0' }));
    p.finish();
    expect(log.lines.at(-1)).toBe('warn: The original user ID was 1000 but the final extension left the user ID set to 0.');
    const q = new ExtensionPolicy('run', cfg({ layers: 1 }), memoryLogger());
    q.afterDockerfile(df('a'), cfg({ layers: 1, user: '' }));
    expect(() => q.finish()).not.toThrow();
  });
});
