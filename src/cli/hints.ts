// What the user can do about an error. The libraries' messages already say what failed and where
// (file:line, path, digest, reference); this adds, for the failures a user causes, one sentence on
// how to fix it, and cleans what a message cannot help carrying (Node's `ENOENT: …, open '<p>'`
// wording, the host path of the build's root filesystem).

interface ErrorLike {
  name?: string;
  code?: string;
  message?: string;
  root?: string;
  path?: string;
  reference?: string;
  status?: number;
  syscall?: string;
  cause?: unknown;
}

function chain(e: unknown): ErrorLike[] {
  const out: ErrorLike[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur !== null && typeof cur === 'object' && depth < 16; depth++) {
    out.push(cur as ErrorLike);
    cur = (cur as ErrorLike).cause;
  }
  return out;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'file exists',
  EMFILE: 'too many open files',
};

/**
 * Node's `ENOENT: no such file or directory, open '/x/Dockerfile'` becomes
 * `open /x/Dockerfile: no such file or directory` (the Go wording the lifecycle uses).
 */
export function humanizeSystemError(msg: string): string {
  return msg
    .replace(/\b(E[A-Z]+): ([^,]+), (\w+) '([^']*)'(?: -> '([^']*)')?/g, (all, code: string, text: string, syscall: string, p: string, dest?: string) =>
      ERRNO_TEXT[code] || /^[a-z ]+$/.test(text) ? `${syscall} ${p}${dest ? ` -> ${dest}` : ''}: ${ERRNO_TEXT[code] ?? text}` : all,
    )
    .replace(/\b(E[A-Z]+): ([a-z ]+), (\w+)(?=$|:)/g, (all, code: string, text: string, syscall: string) => (ERRNO_TEXT[code] ? `${syscall}: ${ERRNO_TEXT[code]}` : all));
}

/** The message with the build's temporary root filesystem shown as the image's own paths. */
export function imagePaths(msg: string, e: unknown): string {
  let out = msg;
  for (const c of chain(e)) {
    if (typeof c.root === 'string' && c.root.length > 1) {
      const root = c.root.replace(/\/+$/, '');
      out = out.replaceAll(`${root}/`, '/').replaceAll(root, '/');
      out = out.replace(/(no matching entry in )(\/etc\/(?:passwd|group))/, '$1$2 of the image');
    }
  }
  return out;
}

/** The errno code somewhere in the chain, with the first path the chain names. */
function errnoOf(e: unknown): { code: string; path?: string } | undefined {
  const errs = chain(e);
  const path = errs.find((c) => typeof c.path === 'string' && c.path !== '')?.path;
  for (const c of errs) {
    const code = c.code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code) && code in ERRNO_TEXT) return { code, ...(path ? { path } : {}) };
    const m = /\b(ENOSPC|EDQUOT|EACCES|EPERM|EROFS)\b/.exec(c.message ?? '');
    if (m) return { code: m[1]!, ...(path ? { path } : {}) };
  }
  return undefined;
}

/** One sentence on what to do, for failures a user can fix; undefined when the message says it all. */
export function hintFor(e: unknown): string | undefined {
  const errs = chain(e);
  const first = errs[0] ?? {};
  const has = (name: string, ...codes: string[]) => errs.find((c) => c.name === name && (codes.length === 0 || codes.includes(c.code ?? '')));

  const errno = errnoOf(e);
  if (errno?.code === 'ENOSPC' || errno?.code === 'EDQUOT') {
    return `free space on the filesystem${errno.path ? ` of ${errno.path}` : ''}, or move the work elsewhere: the layer cache (-cache-dir, $CNBX_CACHE_DIR, or <kaniko-dir>/cache) can be deleted and is rebuilt on the next run (docs/troubleshooting.md, "No space left on device")`;
  }
  if (errno?.code === 'EROFS') return `the target${errno.path ? ` ${errno.path}` : ''} is on a read-only filesystem: write the output or cache somewhere writable`;

  if (has('BuildError', 'RUN_FAILED')) {
    return "the command's own output is printed above; fix the command (or install what it needs in an earlier RUN) and run again";
  }
  if (has('BuildError', 'UNKNOWN_USER') || has('ExecutorError', 'UNKNOWN_USER', 'UNKNOWN_GROUP')) {
    return "users and groups are looked up in the image's own /etc/passwd and /etc/group: create them in an earlier RUN (useradd, adduser), or use a numeric uid[:gid]";
  }
  if (has('BuildError', 'SOURCE_NOT_FOUND')) {
    return 'COPY/ADD sources are relative to the build context (apply: -context, default the Dockerfile\'s directory; extender: the extension\'s context dir); check the name and any .dockerignore';
  }
  if (has('BuildError', 'CONTEXT_ESCAPE')) return 'COPY/ADD sources must stay inside the build context: copy the file into the context first';
  if (has('ExecutorError', 'NO_WORKDIR')) return 'create the directory with WORKDIR (which creates it) or an earlier RUN mkdir -p';
  if (has('ExecutorError', 'EXEC')) return 'the program is not in the image (or not executable): install it in an earlier RUN, or check SHELL and PATH';
  if (has('ExecutorError', 'HELPER')) return 'the chroot helper is missing or broken: reinstall the package (npm install builds native/ with node-gyp; it needs python3, make and a C compiler)';
  if (has('ExecutorError', 'SETUP', 'MOUNT') || (errno?.code === 'EPERM' && has('ExecutorError'))) {
    return 'RUN needs root with CAP_SYS_ADMIN, CAP_SYS_CHROOT, CAP_MKNOD, CAP_SETUID and CAP_SETGID: run as root (in a container: privileged, or those capabilities); see docs/troubleshooting.md';
  }
  if (has('SnapshotError', 'MOUNT')) return 'overlay mounts do not work here: use -snapshotter scan, or put the cache on a local ext4/xfs filesystem (docs/troubleshooting.md, "Overlay mounts not permitted")';
  if (has('SnapshotError', 'UNSAFE_PATH')) return 'the image contains an entry that would write outside its root filesystem; it was refused: do not use this image';

  if (has('RegistryError', 'UNAUTHORIZED') || has('OciError', 'UNAUTHORIZED')) {
    return 'give credentials for the registry: CNB_REGISTRY_AUTH=\'{"<registry>": "Basic <base64 of user:password>"}\', or `docker login <registry>` (read from $DOCKER_CONFIG/config.json or ~/.docker/config.json)';
  }
  if (has('RegistryError', 'NOT_FOUND') || has('OciError', 'NOT_FOUND')) return 'check the reference (registry/repository:tag or @sha256:digest) and that the image was pushed there';
  const reg = has('RegistryError', 'REGISTRY');
  if (reg && reg.status === 0) return 'the registry could not be reached: check the host name and port; a registry on plain HTTP must be named with -insecure-registry (or CNB_INSECURE_REGISTRIES)';

  if (has('OciError', 'INVALID_LAYOUT')) {
    return 'name an OCI image layout directory (it holds oci-layout, index.json and blobs/), e.g. one made with `skopeo copy docker://busybox oci:DIR:latest` or `umoci init`';
  }
  if (has('OciError', 'IMAGE_NOT_FOUND', 'AMBIGUOUS_IMAGE')) return 'choose the image with <dir>:<tag> or <dir>@sha256:<digest>; `jq . <dir>/index.json` lists what the layout holds';
  if (has('OciError', 'BLOB_MISSING_SPARSE')) return 'the layout is sparse (it lacks base layer blobs): use a full layout, e.g. write it without -sparse or copy the image again with skopeo';
  if (has('OciError', 'DIGEST_MISMATCH', 'SIZE_MISMATCH', 'DECOMPRESS')) return 'a stored blob is damaged: copy the image again (and check the disk)';

  if (errno?.code === 'ENOENT' && first.name !== 'CliFailure') return 'check the path; relative paths are resolved against the current directory';
  if (errno?.code === 'EACCES' || errno?.code === 'EPERM') return 'run as root: the engine mounts filesystems, chroots and writes root-owned files';
  return undefined;
}
