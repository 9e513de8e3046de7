import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readlinkSync, realpathSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helperPath } from '../../snapshot/index.js';
import { ChrootExecutor, cleanupStalePlaceholders, type BindMount } from '../../src/index.js';
import type { Logger } from '../../src/log.js';
import { isRoot } from '../helpers/fixtures.js';
import { tmpDir } from '../helpers/tmp.js';
import { journalsBeside, journalsIn, mountsUnder, parentOf, processesWithArgv, runIn, sh, treeState, unpackFixture, until } from './rootfs.js';

function recordingLog(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} };
}

const exe = (pid: number) => {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
};

/** The helper's P0 above a process of the run: the topmost ancestor that is the helper. */
function helperAbove(pid: number): number {
  let p = parentOf(pid);
  while (exe(parentOf(p)) === helperPath()) p = parentOf(p);
  expect(exe(p)).toBe(helperPath());
  return p;
}

/** Starts `sleep <marker>` in a run and SIGKILLs its helper (P0) while the command runs. */
async function killMidRun(ex: ChrootExecutor, root: string, marker: string, binds: BindMount[], before = 'true'): Promise<void> {
  let started!: () => void;
  const ready = new Promise<void>((r) => (started = r));
  const run = runIn(ex, root, sh(`${before}; echo started; exec sleep ${marker}`), { binds, onStdout: () => started() }).catch((x: unknown) => x);
  await ready;
  await until(() => processesWithArgv(['sleep', marker]).length === 1, 'the command');
  const helper = helperAbove(processesWithArgv(['sleep', marker])[0]!);
  process.kill(helper, 'SIGKILL');
  expect(await run).toMatchObject({ code: 'HELPER' }); // no status: the helper died
  await until(() => processesWithArgv(['sleep', marker]).length === 0, 'the command to die with its helper');
  expect(mountsUnder(root)).toEqual([]);
}

async function bindSources(): Promise<BindMount[]> {
  const d = await tmpDir('cnbx-crash-src-');
  mkdirSync(join(d, 'ws'));
  writeFileSync(join(d, 'conf'), 'x=1\n');
  return [
    { source: join(d, 'ws'), target: '/a/b/ws' },
    { source: join(d, 'conf'), target: '/etc/extra.conf', readOnly: true },
    { source: join(d, 'conf'), target: '/dev/pipes/EOF', readOnly: true },
  ];
}

describe.skipIf(!isRoot)('placeholders of a SIGKILLed helper', () => {
  it('are journalled beside the rootfs and removed by the next run on the same root', async () => {
    const root = unpackFixture('busybox', await tmpDir());
    const before = treeState(root);
    const log = recordingLog();
    const ex = new ChrootExecutor({ graceMs: 1000, log });
    await killMidRun(ex, root, '987661', await bindSources());

    // What the killed run left: its placeholders, and its journal (unlocked now) beside the rootfs.
    const left = treeState(root);
    for (const p of ['proc', 'sys', 'dev', 'etc/resolv.conf', 'etc/hosts', 'a', 'a/b', 'a/b/ws', 'etc/extra.conf']) expect(left.has(p)).toBe(true);
    expect(left.has('dev/pipes')).toBe(false); // /dev binds live in the run's tmpfs only
    expect(journalsBeside(root)).toHaveLength(1);
    expect(journalsBeside(root)[0]).toMatch(/^\.cnbx-chroot\.[0-9a-f]{32}\.[0-9]+-[0-9a-f]{16}\.journal$/);

    const r = await runIn(ex, root, sh('test -d /a || echo clean'));
    expect(r.stdout).toEqual(['clean']); // removed before this run resolved its own targets
    expect(log.warnings).toContain(`RUN helper: removed 9 placeholder(s) that a killed run left in ${root}`);
    expect(treeState(root)).toEqual(before); // mtimes of /, /etc restored to the nanosecond
    expect(journalsBeside(root)).toEqual([]);
  });

  it('cleanupStalePlaceholders undoes them without running anything, and leaves a live run alone', async () => {
    const root = unpackFixture('busybox', await tmpDir());
    const state = join(await tmpDir(), 'state');
    const before = treeState(root);
    const ex = new ChrootExecutor({ graceMs: 1000, stateDir: state });
    const binds = await bindSources();
    await killMidRun(ex, root, '987662', binds);
    expect(journalsIn(state)).toHaveLength(1);
    expect(journalsBeside(root)).toEqual([]); // stateDir given: nothing beside the rootfs
    expect(treeState(root)).not.toEqual(before);

    expect(await cleanupStalePlaceholders(root, { stateDir: state })).toEqual({ removed: 9 });
    expect(treeState(root)).toEqual(before);
    expect(journalsIn(state)).toEqual([]);
    expect(await cleanupStalePlaceholders(root, { stateDir: state })).toEqual({ removed: 0 });

    // A live run's journal is locked: cleanup does not touch it or its placeholders.
    const ac = new AbortController();
    let started!: () => void;
    const ready = new Promise<void>((r) => (started = r));
    const live = runIn(ex, root, sh('echo started; exec sleep 987663'), { binds, signal: ac.signal, onStdout: () => started() }).catch((x: unknown) => x);
    await ready;
    const during = treeState(root);
    expect(during.has('a/b/ws')).toBe(true);
    expect(await cleanupStalePlaceholders(root, { stateDir: state })).toEqual({ removed: 0 });
    expect(treeState(root)).toEqual(during);
    expect(journalsIn(state)).toHaveLength(1);
    ac.abort();
    expect(await live).toMatchObject({ code: 'ABORTED' });
    expect(treeState(root)).toEqual(before);
    expect(journalsIn(state)).toEqual([]);
  });

  it('keeps what the command wrote into a placeholder directory, as a normal run does', async () => {
    const root = unpackFixture('busybox', await tmpDir());
    const ex = new ChrootExecutor({ graceMs: 1000, resolvConf: null, hosts: null });
    await killMidRun(ex, root, '987664', await bindSources(), 'echo mine > /a/made-by-command');
    const log = recordingLog();
    expect(await cleanupStalePlaceholders(root, { log })).toEqual({ removed: 6 }); // proc sys dev a/b/ws a/b etc/extra.conf
    const after = treeState(root);
    expect(after.has('a/made-by-command')).toBe(true);
    expect(after.has('a/b')).toBe(false);
    expect(after.has('proc')).toBe(false);
    expect(log.warnings.some((w) => /placeholder \/a kept: Directory not empty/.test(w))).toBe(true);
    expect(journalsBeside(root)).toEqual([]);
  });
});

describe.skipIf(!isRoot)('placeholder journals read back', () => {
  // The journal format (native/src/chroot-helper.c, "Journal"): NUL-terminated fields; a header
  // "CNBX-JOURNAL-1" <root>, then P <parent> <name> d|f <parent mtime s> <ns> before each entry is
  // created and C <dev> <ino> <parent mtime s> <ns> after. Hand-written here to reach the states a
  // kill leaves that a test cannot time: an intent without outcome, a record cut in the middle.
  const keyOf = (root: string) => createHash('sha256').update(realpathSync(root)).digest('hex').slice(0, 32);
  const fields = (...f: string[]) => f.map((x) => `${x}\0`).join('');
  const mtime = (p: string) => lstatSync(p, { bigint: true }).mtimeNs;
  const split = (ns: bigint) => [String(ns / 1_000_000_000n), String(ns % 1_000_000_000n)] as const;

  it('an intent without outcome is undone; a record cut short, or one leading out of the root, is not', async () => {
    const base = await tmpDir();
    const root = join(base, 'rootfs');
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(base, 'outside/victim'), { recursive: true }); // an empty dir outside the rootfs
    const rootBefore = mtime(root);
    const etcBefore = mtime(join(root, 'etc'));
    await new Promise((r) => setTimeout(r, 20));
    mkdirSync(join(root, 'ph')); // killed right after creating it: no outcome record
    writeFileSync(join(root, 'etc/hosts'), ''); // this one's record was cut in the middle
    expect(mtime(root)).not.toBe(rootBefore);
    const journal = join(base, `.cnbx-chroot.${keyOf(root)}.1-0000000000000000.journal`);
    writeFileSync(
      journal,
      fields('CNBX-JOURNAL-1', realpathSync(root)) +
        fields('P', '', 'ph', 'd', ...split(rootBefore)) +
        fields('P', '..', 'outside', 'd', '0', '0') + // never followed: ".." in a parent
        fields('P', 'etc', 'hosts', 'f', ...split(etcBefore)) +
        'C\0' + '12', // cut short
    );
    const log = recordingLog();
    expect(await cleanupStalePlaceholders(root, { log })).toEqual({ removed: 1 });
    expect(existsSync(join(root, 'ph'))).toBe(false);
    expect(mtime(root)).toBe(rootBefore); // restored to the nanosecond
    expect(existsSync(join(base, 'outside/victim'))).toBe(true);
    expect(existsSync(join(root, 'etc/hosts'))).toBe(true); // after the bad record: not read
    expect(existsSync(journal)).toBe(false);
  });

  it('a journal of another root under the same name is left alone', async () => {
    const base = await tmpDir();
    const root = join(base, 'rootfs');
    mkdirSync(join(root, 'ph'), { recursive: true });
    const journal = join(base, `.cnbx-chroot.${keyOf(root)}.1-0000000000000001.journal`);
    writeFileSync(journal, fields('CNBX-JOURNAL-1', '/somewhere/else') + fields('P', '', 'ph', 'd', '0', '0'));
    const log = recordingLog();
    expect(await cleanupStalePlaceholders(root, { log })).toEqual({ removed: 0 });
    expect(existsSync(join(root, 'ph'))).toBe(true);
    expect(existsSync(journal)).toBe(true);
    expect(log.warnings.some((w) => w.includes('is not a placeholder journal of'))).toBe(true);
    rmdirSync(join(root, 'ph'));
  });

  it('an entry that is no longer what was created (owner, type, inode) is kept', async () => {
    const base = await tmpDir();
    const root = join(base, 'rootfs');
    mkdirSync(root);
    mkdirSync(join(root, 'owned'));
    const { chownSync } = await import('node:fs');
    chownSync(join(root, 'owned'), 1000, 1000);
    writeFileSync(join(root, 'typed'), '');
    mkdirSync(join(root, 'other-inode'));
    const ino = lstatSync(join(root, 'other-inode')).ino;
    const journal = join(base, `.cnbx-chroot.${keyOf(root)}.1-0000000000000002.journal`);
    writeFileSync(
      journal,
      fields('CNBX-JOURNAL-1', realpathSync(root)) +
        fields('P', '', 'owned', 'd', '0', '0') +
        fields('P', '', 'typed', 'd', '0', '0') +
        fields('P', '', 'other-inode', 'd', '0', '0') + fields('C', '0', String(ino + 1), '0', '0'),
    );
    expect(await cleanupStalePlaceholders(root)).toEqual({ removed: 0 });
    expect(existsSync(join(root, 'owned')) && existsSync(join(root, 'typed')) && existsSync(join(root, 'other-inode'))).toBe(true);
    expect(existsSync(journal)).toBe(false); // dealt with
  });
});
