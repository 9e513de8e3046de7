import { spawn } from 'node:child_process';
import { closeSync, createReadStream, createWriteStream, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readSync, rmSync, symlinkSync, chmodSync } from 'node:fs';
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import type { Owner } from './copy.js';
import { BuildError, type BuildErrorDetails } from './errors.js';
import { resolveScoped } from './scoped-path.js';

export type ArchiveKind = 'tar' | 'gzip' | 'bzip2' | 'xz';

/** Recognises a local tar archive (plain, gzip, bzip2, xz) the way Docker's ADD does: by content. */
export function sniffArchive(hostPath: string): ArchiveKind | null {
  const fd = openSync(hostPath, 'r');
  const head = Buffer.alloc(512);
  let n: number;
  try {
    n = readSync(fd, head, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
  if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (n >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (n >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (n >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  return null;
}

function decompressed(hostPath: string, kind: ArchiveKind): { stream: Readable; done: Promise<void> } {
  const file = createReadStream(hostPath);
  if (kind === 'tar') return { stream: file, done: Promise.resolve() };
  if (kind === 'gzip') {
    const out = new PassThrough();
    return { stream: out, done: pipeline(file, createGunzip(), out) };
  }
  const child = spawn(kind === 'bzip2' ? 'bzip2' : 'xz', ['-dc', hostPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  file.destroy();
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${kind} -d failed (${code}): ${stderr.trim()}`))));
  });
  return { stream: child.stdout, done };
}

function cleanEntryName(name: string): string[] | null {
  const parts: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (parts.length === 0) return null;
      parts.pop();
    } else parts.push(c);
  }
  return parts;
}

/**
 * Extracts a local archive into `destDir` (an absolute image path) inside the rootfs, as ADD does.
 * Every entry lands inside the rootfs: names climbing above the destination are refused, parents
 * are resolved scoped to the rootfs (image symlinks cannot lead out), the last component is never
 * followed, and hardlinks may only point at entries inside the rootfs. `.wh.` names are refused:
 * they cannot be represented in an OCI layer.
 */
export async function extractArchive(hostPath: string, kind: ArchiveKind, rootfs: string, destDir: string, owner: Owner | undefined, where: BuildErrorDetails): Promise<number> {
  const { stream, done } = decompressed(hostPath, kind);
  const extract = tar.extract();
  const dirTimes: Array<{ path: string; mtime: Date }> = [];
  let count = 0;
  const fail = (msg: string, entry: string) =>
    new BuildError('CONTEXT_ESCAPE', `ADD ${posix.basename(hostPath)}: ${msg}: ${JSON.stringify(entry)}`, { ...where, path: entry });

  const consume = (async () => {
    try {
      await consumeEntries();
    } catch (e) {
      extract.destroy();
      throw e;
    }
  })();
  async function consumeEntries(): Promise<void> {
    for await (const entry of extract) {
      const h = entry.header;
      const parts = cleanEntryName(h.name);
      if (parts === null) throw fail('entry climbs out of the destination', h.name);
      if (parts.some((p) => p.startsWith('.wh.'))) throw fail('entry name starts with .wh. (not representable in a layer)', h.name);
      const imagePath = posix.join(destDir, ...parts);
      if (parts.length === 0) {
        entry.resume();
        continue;
      }
      const parent = resolveScoped(rootfs, posix.dirname(imagePath)).hostPath;
      mkdirSync(parent, { recursive: true });
      const target = `${parent}/${posix.basename(imagePath)}`;
      let existing;
      try {
        existing = lstatSync(target);
      } catch {
        existing = undefined;
      }
      if (existing && !(existing.isDirectory() && h.type === 'directory')) rmSync(target, { recursive: true, force: true });
      const uid = owner?.uid ?? h.uid ?? 0;
      const gid = owner?.gid ?? h.gid ?? 0;
      const mode = (h.mode ?? 0o644) & 0o7777;
      switch (h.type) {
        case 'directory':
          if (!existing?.isDirectory()) mkdirSync(target);
          lchownSync(target, uid, gid);
          chmodSync(target, mode);
          if (h.mtime) dirTimes.push({ path: target, mtime: h.mtime });
          entry.resume();
          break;
        case 'file':
        case 'contiguous-file':
          await pipeline(entry, createWriteStream(target, { mode: 0o600 }));
          lchownSync(target, uid, gid);
          chmodSync(target, mode);
          if (h.mtime) lutimesSync(target, h.mtime, h.mtime);
          break;
        case 'symlink':
          symlinkSync(h.linkname ?? '', target);
          lchownSync(target, uid, gid);
          if (h.mtime) lutimesSync(target, h.mtime, h.mtime);
          entry.resume();
          break;
        case 'link': {
          const linkParts = cleanEntryName(h.linkname ?? '');
          if (linkParts === null || linkParts.length === 0) throw fail('hardlink target climbs out of the destination', h.linkname ?? '');
          const linkTarget = resolveScoped(rootfs, posix.join(destDir, ...linkParts), { followFinal: false }).hostPath;
          linkSync(linkTarget, target);
          entry.resume();
          break;
        }
        default:
          // Devices, fifos and other special files are not created by ADD.
          entry.resume();
          continue;
      }
      count++;
    }
  }
  await Promise.all([pipeline(stream, extract), consume, done]).catch((e) => {
    if (e instanceof BuildError) throw e;
    throw new BuildError('BAD_ARGUMENT', `ADD ${posix.basename(hostPath)}: cannot extract archive: ${(e as Error).message}`, where, { cause: e });
  });
  // Directory times last: creating entries inside them changed them.
  for (const d of dirTimes.reverse()) lutimesSync(d.path, d.mtime, d.mtime);
  return count;
}
