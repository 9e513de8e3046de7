// layers.md §6 hard cases 41-58 (encoding, parents and ordering, engine artefacts and ignored
// paths, output identity), through both snapshotters.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendLayers } from '../../oci/index.js';
import { isRoot } from '../helpers/fixtures.js';
import { commit, DEFAULT_SDE, hardCaseSuite, loadFixture, makeEnv, materializeInto, openWorkspace, sh, SNAPSHOTTERS, type Env, type HardCase } from './harness.js';

const LONG_DIR = `deep/${'d'.repeat(140)}`;
const LONG = `${LONG_DIR}/${'f'.repeat(150)}`; // 300 bytes
const TARGET = `/${'t'.repeat(149)}`; // 150 bytes

async function extractWithUs(base: Parameters<typeof materializeInto>[0], o: { layer: unknown }, dir: string): Promise<string> {
  const dest = join(dir, `x-${Math.random().toString(36).slice(2)}`);
  await materializeInto(appendLayers(base, { layer: o.layer as never }), dest);
  return dest;
}

/** What an executor does around a RUN on a base without these paths: placeholders to mount on. */
function placeholders(root: string): void {
  for (const d of ['proc', 'sys', 'dev']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/resolv.conf'), '');
  writeFileSync(join(root, 'etc/hosts'), '');
}
function removePlaceholders(root: string): void {
  for (const d of ['proc', 'sys', 'dev']) rmSync(join(root, d), { recursive: true, force: true });
  unlinkSync(join(root, 'etc/resolv.conf'));
  unlinkSync(join(root, 'etc/hosts'));
}

const cases: HardCase[] = [
  {
    id: 41, title: '300-byte path and 150-byte symlink target → PAX path/linkpath; GNU tar lists the same names',
    step: (root) => {
      mkdirSync(join(root, LONG_DIR), { recursive: true });
      writeFileSync(join(root, LONG), 'long');
      symlinkSync(TARGET, join(root, 'lnk'));
    },
    expect: ['deep/', `${LONG_DIR}/`, LONG, `lnk -> ${TARGET}`],
    check: async (o) => {
      expect(o.entries[2]!.pax.path).toBe(LONG);
      expect(o.entries[3]!.pax.linkpath).toBe(TARGET);
      const tar = await buffer(await o.layer!.openUncompressed());
      const listed = execFileSync('tar', ['-tvf', '-'], { input: tar }).toString().trim().split('\n');
      expect(listed.map((l) => /^\S+\s+\S+\s+\d+\s+\S+\s+\S+\s(.*)$/.exec(l)?.[1])).toEqual(['deep/', `${LONG_DIR}/`, LONG, `lnk -> ${TARGET}`]);
    },
  },
  {
    id: 42, title: 'UTF-8 and non-UTF-8 names → the same bytes after extraction',
    step: (root) => {
      writeFileSync(Buffer.from(`${root}/tmp/ünï`), 'u');
      writeFileSync(Buffer.concat([Buffer.from(`${root}/tmp/`), Buffer.from([0x62, 0xff, 0x61])]), 'b');
    },
    expect: ['tmp/', 'tmp/b\\xffa', 'tmp/ünï'],
    check: async (o, { base, env }) => {
      const dest = await extractWithUs(base, o, env.dir);
      const names = readdirSync(Buffer.from(join(dest, 'tmp')), { encoding: 'buffer' }).map((b) => b.toString('hex')).sort();
      expect(names).toEqual([Buffer.from([0x62, 0xff, 0x61]), Buffer.from('ünï')].map((b) => b.toString('hex')).sort());
    },
  },
  {
    id: 43, title: 'a newline in a name → one entry, name exact',
    step: sh(`touch "/tmp/a
b"`),
    expect: ['tmp/', 'tmp/a\nb'],
  },
  {
    id: 44, title: 'uid/gid 1000680000 → PAX uid/gid; exact owner after extraction (ours and GNU tar)',
    step: sh('touch /f44 && chown 1000680000:1000680000 /f44'),
    expect: ['f44'],
    check: async (o, { base, env }) => {
      expect(o.entries[0]!.pax).toMatchObject({ uid: '1000680000', gid: '1000680000' });
      const dest = await extractWithUs(base, o, env.dir);
      expect(statSync(join(dest, 'f44'))).toMatchObject({ uid: 1000680000, gid: 1000680000 });
      const gnu = join(env.dir, `gnu-${Math.random().toString(36).slice(2)}`);
      mkdirSync(gnu);
      execFileSync('tar', ['--numeric-owner', '-xpf', '-', '-C', gnu], { input: await buffer(await o.layer!.openUncompressed()) });
      expect(statSync(join(gnu, 'f44'))).toMatchObject({ uid: 1000680000, gid: 1000680000 });
    },
  },
  {
    id: 46, title: 'sub-second mtime → whole seconds (policy), no PAX mtime',
    step: (root) => { writeFileSync(join(root, 'f46'), 'x'); execFileSync('touch', ['-d', '@1600000000.123456789', join(root, 'f46')]); },
    expect: ['f46'],
    check: (o) => {
      expect(o.entries[0]!.mtime).toBe(1600000000);
      expect(o.entries[0]!.pax).toEqual({});
    },
  },
  {
    id: 47, title: 'a deep new file → every parent first, with its current (unchanged) metadata',
    setup: [sh('mkdir -p /usr/local/share && chmod 750 /usr/local && chown 7:8 /usr/local/share')],
    step: sh('touch /usr/local/share/x'),
    expect: ['usr/', 'usr/local/', 'usr/local/share/', 'usr/local/share/x'],
    check: (o) => {
      expect(o.entries[1]).toMatchObject({ mode: 0o750, uid: 0 });
      expect(o.entries[2]).toMatchObject({ mode: 0o755, uid: 7, gid: 8 });
    },
  },
  {
    id: 48, title: 'mkdir -p under umask 077 → every new dir 0700',
    step: sh('umask 077 && mkdir -p /a48/b/c'),
    expect: ['a48/', 'a48/b/', 'a48/b/c/'],
    check: (o) => expect(o.entries.map((e) => e.mode)).toEqual([0o700, 0o700, 0o700]),
  },
  {
    id: 49, title: 'a parent with mode 0775 keeps it (no regression to 0755)',
    setup: [sh('mkdir /var && chmod 775 /var')],
    step: sh('touch /var/x'),
    expect: ['var/', 'var/x'],
    check: (o) => expect(o.entries[0]).toMatchObject({ mode: 0o775, gid: 0 }),
  },
  {
    id: 50, title: 'chmod of / → no root entry (an empty change)',
    step: sh('chmod 700 /'),
    expect: [],
    check: (o) => expect(o.layer).toBeNull(),
  },
  {
    id: 51, title: 'executor placeholders made and removed around `true` → nothing',
    step: (root) => { placeholders(root); removePlaceholders(root); },
    expect: [],
    check: (o) => expect(o.layer).toBeNull(),
  },
  {
    id: 51.1, title: 'executor paths left in place (mounted files) → still nothing',
    step: (root) => { placeholders(root); writeFileSync(join(root, 'dev/null-ish'), 'x'); },
    expect: [],
  },
  {
    id: 52, title: 'an append to /etc/hosts is not persisted (engine path, as docker)',
    setupTar: [{ name: 'etc/', type: 'dir' }, { name: 'etc/hosts', content: '127.0.0.1 localhost\n' }],
    step: sh('echo "1.2.3.4 x" >>/etc/hosts'),
    expect: [],
  },
  {
    id: 53, title: 'writes under /dev, /proc, /sys → nothing',
    step: sh('mkdir -p /dev/shm /proc /sys/x && touch /dev/shm/x /proc/y /sys/x/z && ls /proc >/dev/null'),
    expect: [],
  },
  {
    id: 54, title: 'lifecycle dirs excluded (/workspace, /layers, /platform); /tmp kept',
    step: sh('mkdir -p /layers /platform && touch /workspace/a /layers/b /platform/c && echo k >/tmp/keep'),
    expect: ['tmp/', 'tmp/keep'],
  },
  {
    id: 55, title: 'no mountinfo-wide ignore: /usr/local/bin/t is kept',
    setup: [sh('mkdir -p /usr/local/bin')],
    step: sh('echo x >/usr/local/bin/t'),
    expect: ['usr/', 'usr/local/', 'usr/local/bin/', 'usr/local/bin/t'],
  },
  {
    id: 56, title: '`true` → no layer (the caller records an empty_layer history entry)',
    step: sh('true'),
    expect: [],
    check: (o) => expect(o.layer).toBeNull(),
  },
  {
    id: '§3-31', title: 'a rename there and back → nothing (copied-up but equal / ctime-only)',
    step: sh('mv /etc/passwd /t && mv /t /etc/passwd'),
    expect: [],
  },
  {
    id: '§3-31b', title: 'chmod/chown to the same values and touch -r → nothing',
    step: sh('chmod 644 /etc/passwd && chown 0:0 /etc/group && touch -r /etc/group /etc/group && chmod 755 /bin'),
    expect: [],
  },
];

hardCaseSuite('hard cases 41-58: encoding, parents, engine paths, output', cases);

describe.skipIf(!isRoot)('hard cases 57-58: identity', () => {
  let env: Env;
  beforeAll(() => { env = makeEnv(); });
  afterAll(() => env.cleanup());

  it('#57/#58 the same step twice (SOURCE_DATE_EPOCH) → the same diffID and digest, one blob', async () => {
    const base = await loadFixture('busybox');
    const digests: string[] = [];
    const diffIDs: string[] = [];
    for (const name of [...SNAPSHOTTERS, ...SNAPSHOTTERS]) {
      const ws = await openWorkspace(env, name, base);
      try {
        await ws.beginStep();
        await sh('mkdir -p /opt/app && echo hello >/opt/app/x && ln -s x /opt/app/y && chmod 4755 /opt/app/x')(ws.root);
        const o = await commit(env, ws, { sourceDateEpoch: DEFAULT_SDE });
        digests.push(o.layer!.descriptor.digest);
        diffIDs.push(o.layer!.diffID);
      } finally {
        await ws.close();
      }
    }
    expect(new Set(diffIDs).size).toBe(1);
    expect(new Set(digests).size).toBe(1);
    const blobs = readdirSync(join(env.store.root, 'blobs', 'sha256')).filter((n) => /^[0-9a-f]{64}$/.test(n));
    expect(blobs.filter((n) => `sha256:${n}` === digests[0])).toHaveLength(1);
  });
});
