import tar from 'tar-stream';

export interface MiniEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  content?: string;
  linkname?: string;
  mode?: number;
}

/** A small tar built in memory (for archives handed to ADD in tests). */
export async function tarFromEntries(entries: MiniEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((r) => pack.on('end', r));
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), linkname: e.linkname, mtime: new Date(0) };
    await new Promise<void>((res, rej) => pack.entry(header, type === 'file' ? (e.content ?? '') : undefined, (err) => (err ? rej(err) : res())));
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}
