// A simple deterministic tar of a directory, for app layers handed to the exporter as directories:
// entries in bytewise name order, mtime 1980-01-01T00:00:01Z (the lifecycle's normalised time),
// fixed owner, no user/group names, permissions kept, symlinks kept, hard links stored as files.
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { ExportError } from './errors.js';

const MTIME = new Date(315532801 * 1000);
/** ustar's size field holds up to 8 GiB - 1; beyond that tar-stream needs a PAX size record. */
const USTAR_MAX_SIZE = 8 * 1024 ** 3 - 1;

export interface DirTarOptions {
  /** Where the directory's contents go in the image, e.g. `/workspace` (default: the root). */
  target?: string;
  /** Owner of every entry (the lifecycle uses the build's CNB_USER_ID/CNB_GROUP_ID). */
  uid?: number;
  gid?: number;
}

/** The directory as a tar stream; the target's parent directories are included (owned by root). */
export function dirToTar(dir: string, opts: DirTarOptions = {}): Readable {
  const pack = tarStream.pack();
  const uid = opts.uid ?? 0;
  const gid = opts.gid ?? 0;
  const target = posix.normalize(`/${opts.target ?? ''}`).replace(/^\/+|\/+$/g, '');

  const entry = (header: Partial<tarStream.Header> & { name: string }, body?: Readable): Promise<void> =>
    new Promise((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body === undefined) {
        pack.entry(header, cb);
        return;
      }
      // tar-stream's entry sink is a streamx writable: feed it with backpressure, no .pipe().
      const sink = pack.entry(header, cb) as unknown as NodeJS.WritableStream & { destroy(e?: Error): void };
      (async () => {
        for await (const c of body) {
          if (!sink.write(c as Buffer)) await new Promise<void>((r) => sink.once('drain', () => r()));
        }
        sink.end();
      })().catch((e: unknown) => {
        sink.destroy(e as Error);
        reject(e as Error);
      });
    });

  const walk = async (abs: string, rel: string): Promise<void> => {
    const names = (await readdir(abs)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const n of names) {
      const p = join(abs, n);
      const name = rel === '' ? n : `${rel}/${n}`;
      const st = await lstat(p);
      const base = { name, mode: st.mode & 0o7777, uid, gid, mtime: MTIME, uname: '', gname: '' };
      if (st.isDirectory()) {
        await entry({ ...base, name: `${name}/`, type: 'directory' });
        await walk(p, name);
      } else if (st.isSymbolicLink()) {
        await entry({ ...base, type: 'symlink', linkname: await readlink(p) });
      } else if (st.isFile()) {
        const pax = st.size > USTAR_MAX_SIZE ? { size: String(st.size) } : undefined;
        await entry({ ...base, type: 'file', size: st.size, ...(pax ? { pax } : {}) }, createReadStream(p));
      } else {
        throw new ExportError('UNSUPPORTED', `${p}: only files, directories and symlinks can go into an app layer`, { path: p });
      }
    }
  };

  (async () => {
    const parts = target === '' ? [] : target.split('/');
    for (let i = 0; i < parts.length; i++) {
      const name = parts.slice(0, i + 1).join('/');
      const mode = i === parts.length - 1 ? ((await lstat(dir)).mode & 0o7777) : 0o755;
      const owner = i === parts.length - 1 ? { uid, gid } : { uid: 0, gid: 0 };
      await entry({ name: `${name}/`, type: 'directory', mode, ...owner, mtime: MTIME, uname: '', gname: '' });
    }
    await walk(dir, target);
    pack.finalize();
  })().catch((e: unknown) => pack.destroy(e instanceof Error ? e : new Error(String(e))));
  return pack as unknown as Readable;
}

