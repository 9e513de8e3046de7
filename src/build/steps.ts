import { existsSync, readFileSync, lchownSync, lstatSync, mkdirSync, chmodSync } from 'node:fs';
import { dirname, basename, join, posix } from 'node:path';
import { resolveUser } from '../executor/index.js';
import type { Logger } from '../log.js';
import type { AddInstruction, CopyInstruction } from '../dockerfile/index.js';
import { extractArchive, sniffArchive } from './add-archive.js';
import { resolveSources, digestSources, type ContextSource } from './context-sources.js';
import { copySources, mkdirScoped, writeHeredocFile, type Owner } from './copy.js';
import { IgnoreMatcher } from './dockerignore.js';
import { BuildError, type BuildErrorDetails } from './errors.js';
import { resolveScoped } from './scoped-path.js';

/**
 * The `.dockerignore` of a build: `<Dockerfile>.dockerignore` next to the Dockerfile wins over
 * `<context>/.dockerignore` (BuildKit's rule).
 */
export function loadDockerignore(contextDir: string, dockerfilePath: string | undefined): IgnoreMatcher {
  const candidates = [
    ...(dockerfilePath ? [join(dirname(dockerfilePath), `${basename(dockerfilePath)}.dockerignore`)] : []),
    join(contextDir, '.dockerignore'),
  ];
  for (const c of candidates) {
    if (existsSync(c)) return IgnoreMatcher.fromText(readFileSync(c, 'utf8'));
  }
  return new IgnoreMatcher([]);
}

/** `--chown` in any of Docker's forms (names resolved in the image's passwd and group). */
export async function resolveChown(rootfs: string, chown: string | undefined, where: BuildErrorDetails): Promise<Owner | undefined> {
  if (chown === undefined || chown === '') return undefined;
  const [userPart = '', groupPart] = chown.split(':');
  try {
    const u = await resolveUser(rootfs, groupPart === undefined ? userPart : `${userPart}:${groupPart}`);
    // Docker: "a username without groupname or a UID without GID will use the same numeric UID as the GID".
    return { uid: u.uid, gid: groupPart === undefined ? u.uid : u.gid };
  } catch (e) {
    throw new BuildError('UNKNOWN_USER', `--chown=${chown}: ${(e as Error).message}`, where, { cause: e });
  }
}

export function parseChmod(chmod: string | undefined, where: BuildErrorDetails): number | undefined {
  if (chmod === undefined || chmod === '') return undefined;
  if (!/^[0-7]{3,4}$/.test(chmod)) {
    throw new BuildError('BAD_ARGUMENT', `--chmod=${chmod}: expected an octal mode such as 0755`, where);
  }
  return parseInt(chmod, 8);
}

export interface PreparedCopy {
  sources: ContextSource[];
  ignore: IgnoreMatcher;
  /** --exclude patterns (relative to each source). */
  exclude?: IgnoreMatcher;
  /** Digest of what the step reads, for the cache key. */
  contextDigest: string;
}

/** Resolves a COPY/ADD's sources against the context before the step runs (and before the cache lookup). */
export async function prepareCopy(instr: CopyInstruction | AddInstruction, contextDir: string, ignore: IgnoreMatcher, where: BuildErrorDetails): Promise<PreparedCopy> {
  if (instr.kind === 'ADD' && instr.sources.some((s) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || s.startsWith('git@'))) {
    throw new BuildError('UNSUPPORTED', 'ADD from a URL or git repository is not supported: extension builds read only their build context (use RUN with curl, or COPY)', where);
  }
  if (instr.kind === 'ADD' && instr.checksum !== undefined) {
    throw new BuildError('UNSUPPORTED', 'ADD --checksum applies only to URL and git sources (BuildKit), which extension builds do not read: remove --checksum', where);
  }
  if (instr.kind === 'ADD' && instr.keepGitDir) {
    throw new BuildError('UNSUPPORTED', 'ADD --keep-git-dir applies only to git sources, which extension builds do not read: remove --keep-git-dir', where);
  }
  const parents = instr.kind === 'COPY' && instr.parents;
  const exclude = instr.exclude.length > 0 ? IgnoreMatcher.fromText(instr.exclude.join('\n')) : undefined;
  const resolved = instr.sources.length > 0 ? resolveSources(contextDir, instr.sources, ignore, where, { parents }) : [];
  // --exclude drops a matched source by its name (`COPY --exclude=*.txt hom* /d/`, BuildKit's example).
  const sources = exclude ? resolved.filter((src) => src.rel === '' || !exclude.excludes(posix.basename(src.rel))) : resolved;
  const inline = instr.inline.map((s) => `${s.name}\0${s.data}`).join('\0');
  const contextDigest = `${await digestSources(sources, ignore, exclude)}:${inline}`;
  return { sources, ignore, ...(exclude ? { exclude } : {}), contextDigest };
}

/** Executes a prepared COPY/ADD into the rootfs. Returns the number of entries written. */
export async function executeCopy(
  instr: CopyInstruction | AddInstruction,
  prepared: PreparedCopy,
  rootfs: string,
  workdir: string,
  where: BuildErrorDetails,
  log?: Logger,
): Promise<number> {
  const owner = await resolveChown(rootfs, instr.chown, where);
  const chmod = parseChmod(instr.chmod, where);
  if (instr.link) refuseLinkThroughSymlink(rootfs, posix.resolve(workdir || '/', instr.dest), instr.kind, where);
  let count = 0;
  const plain: ContextSource[] = [];
  for (const src of prepared.sources) {
    const kind = instr.kind === 'ADD' && instr.unpack !== false && src.stats.isFile() ? sniffArchive(src.hostPath) : null;
    if (kind) {
      const dest = posix.resolve(workdir || '/', instr.dest);
      mkdirScoped(rootfs, dest, owner, where);
      count += await extractArchive(src.hostPath, kind, rootfs, dest, owner, where);
    } else plain.push(src);
  }
  if (plain.length > 0) {
    const s = copySources({ rootfs, sources: plain, dest: instr.dest, workdir, owner, chmod, ignore: prepared.ignore, ...(prepared.exclude ? { exclude: prepared.exclude } : {}), where, ...(log ? { log } : {}) });
    count += s.files + s.dirs + s.symlinks;
  }
  for (const doc of instr.inline) {
    writeHeredocFile({ rootfs, dest: instr.dest, workdir, owner, chmod, where }, doc.name, doc.data);
    count++;
  }
  return count;
}

/**
 * `COPY --link` copies as a plain COPY does, which is Docker's result too unless the destination
 * path goes through a symlink in the image: Docker's --link layer then replaces the symlink by a
 * directory while kaniko (and a plain COPY) follow it. Rather than pick one silently, refuse.
 */
function refuseLinkThroughSymlink(rootfs: string, dest: string, kind: string, where: BuildErrorDetails): void {
  let current = '';
  for (const part of dest.split('/').filter((c) => c !== '' && c !== '.')) {
    current = part === '..' ? posix.dirname(current) : `${current}/${part}`;
    let st;
    try {
      st = lstatSync(join(rootfs, current));
    } catch {
      return; // missing: nothing further down exists either
    }
    if (st.isSymbolicLink()) {
      const resolved = `/${resolveScoped(rootfs, dest).rel}`;
      throw new BuildError('UNSUPPORTED',
        `${kind} --link ${dest}: ${current} is a symlink in the image; Docker's --link would replace it by a directory while kaniko follows it: drop --link, or copy to ${resolved}`,
        { ...where, path: dest });
    }
    if (!st.isDirectory()) return;
  }
}

/**
 * WORKDIR creates the directory (and missing parents) owned by the current user, as BuildKit does.
 * Returns true when something was created.
 */
export async function createWorkdir(rootfs: string, dir: string, user: string, where: BuildErrorDetails): Promise<boolean> {
  let owner: Owner = { uid: 0, gid: 0 };
  if (user !== '') {
    try {
      const u = await resolveUser(rootfs, user);
      owner = { uid: u.uid, gid: u.gid };
    } catch (e) {
      throw new BuildError('UNKNOWN_USER', `WORKDIR ${dir}: cannot resolve USER ${user}: ${(e as Error).message}`, where, { cause: e });
    }
  }
  let created = false;
  let current = '/';
  for (const part of dir.split('/').filter(Boolean)) {
    const { hostPath, rel } = resolveScoped(rootfs, posix.join(current, part));
    let exists = true;
    try {
      if (!lstatSync(hostPath).isDirectory()) {
        throw new BuildError('BAD_DESTINATION', `WORKDIR ${dir}: /${rel} exists and is not a directory`, { ...where, path: dir });
      }
    } catch (e) {
      if (e instanceof BuildError) throw e;
      exists = false;
    }
    if (!exists) {
      mkdirSync(hostPath);
      chmodSync(hostPath, 0o755);
      lchownSync(hostPath, owner.uid, owner.gid);
      created = true;
    }
    current = `/${rel}`;
  }
  return created;
}
