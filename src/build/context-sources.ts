import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readlinkSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { IgnoreMatcher } from './dockerignore.js';
import { BuildError, type BuildErrorDetails } from './errors.js';
import { cleanSlashPath, globRegExp, hasWildcard } from './glob.js';
import { climbsOutOfRoot } from './scoped-path.js';

/** One source of a COPY/ADD, resolved inside the build context. */
export interface ContextSource {
  /** Path relative to the context root, slash-separated ('' for the root itself). */
  rel: string;
  /** Absolute host path. */
  hostPath: string;
  /** lstat of the source, or stat when it was a top-level symlink (followed, as Docker does). */
  stats: Stats;
  /** True when the pattern had wildcards (then the destination must be a directory). */
  fromWildcard: boolean;
  /**
   * COPY --parents: the path to recreate under the destination (`rel`, or the part of it after a
   * `/./` pivot in the pattern). Absent without --parents.
   */
  keep?: string;
}


/**
 * Makes sure a host path found in the context really lies inside it once symlinks are followed
 * (a context symlink that points out of the context must never be read).
 */
function assertInsideContext(contextReal: string, hostPath: string, shown: string, where: BuildErrorDetails): void {
  let real: string;
  try {
    real = realpathSync(hostPath);
  } catch (e) {
    throw new BuildError('SOURCE_NOT_FOUND', `COPY/ADD source ${shown}: ${(e as Error).message}`, { ...where, path: shown }, { cause: e });
  }
  if (real !== contextReal && !real.startsWith(contextReal + sep)) {
    throw new BuildError('CONTEXT_ESCAPE', `forbidden path outside the build context: ${shown} resolves to ${real}`, { ...where, path: shown });
  }
}

/**
 * Resolves the sources of one COPY/ADD: wildcards are matched segment by segment against the
 * context (excluded paths never match), `..` above the context is refused, and a top-level source
 * that is a symlink is followed only when its target stays inside the context.
 */
export function resolveSources(contextDir: string, patterns: readonly string[], ignore: IgnoreMatcher, where: BuildErrorDetails, opts: { parents?: boolean } = {}): ContextSource[] {
  const contextReal = realpathSync(contextDir);
  const out: ContextSource[] = [];
  for (const pattern of patterns) {
    if (climbsOutOfRoot(pattern)) {
      throw new BuildError('CONTEXT_ESCAPE', `forbidden path outside the build context: ${pattern}`, { ...where, path: pattern });
    }
    const rel = cleanSlashPath(pattern);
    // BuildKit's --parents pivot: in `a/./b/c`, only `b/c` is kept under the destination.
    const pivot = opts.parents ? pivotOf(pattern) : '';
    const keepOf = (r: string): string | undefined => {
      if (!opts.parents) return undefined;
      if (pivot === '') return r;
      return r === pivot ? '' : r.slice(pivot.length + 1);
    };
    if (!hasWildcard(rel)) {
      const hostPath = join(contextDir, rel);
      let st: Stats;
      try {
        st = lstatSync(hostPath);
      } catch {
        throw new BuildError('SOURCE_NOT_FOUND', `COPY/ADD source not found in the build context: ${pattern}`, { ...where, path: pattern });
      }
      if (rel !== '' && ignore.excludes(rel)) {
        throw new BuildError('SOURCE_NOT_FOUND', `COPY/ADD source ${pattern} is excluded by .dockerignore`, { ...where, path: pattern });
      }
      // A symlinked directory on the way (`COPY link/file`) must not lead out either.
      if (rel.includes('/')) assertInsideContext(contextReal, dirname(hostPath), pattern, where);
      if (st.isSymbolicLink()) {
        assertInsideContext(contextReal, hostPath, pattern, where);
        st = statSync(hostPath);
      }
      const keep = keepOf(rel);
      out.push({ rel, hostPath, stats: st, fromWildcard: false, ...(keep !== undefined ? { keep } : {}) });
      continue;
    }
    const matches = globContext(contextDir, rel.split('/'), ignore);
    if (matches.length === 0) {
      throw new BuildError('SOURCE_NOT_FOUND', `COPY/ADD pattern matched no files in the build context: ${pattern}`, { ...where, path: pattern });
    }
    for (const m of matches) {
      const hostPath = join(contextDir, m);
      let st = lstatSync(hostPath);
      if (st.isSymbolicLink()) {
        assertInsideContext(contextReal, hostPath, m, where);
        st = statSync(hostPath);
      }
      const keep = keepOf(m);
      out.push({ rel: m, hostPath, stats: st, fromWildcard: true, ...(keep !== undefined ? { keep } : {}) });
    }
  }
  return out;
}

/** The cleaned context path before the last `/./` of a pattern ('' when there is none). */
function pivotOf(pattern: string): string {
  const i = pattern.lastIndexOf('/./');
  return i < 0 ? '' : cleanSlashPath(pattern.slice(0, i));
}

function globContext(contextDir: string, segments: string[], ignore: IgnoreMatcher): string[] {
  let current: string[] = [''];
  for (const seg of segments) {
    const next: string[] = [];
    const re = hasWildcard(seg) ? globRegExp(seg) : null;
    for (const dir of current) {
      const hostDir = join(contextDir, dir);
      let names: string[];
      try {
        if (!lstatSync(hostDir).isDirectory()) continue;
        names = readdirSync(hostDir);
      } catch {
        continue;
      }
      for (const name of names.sort()) {
        if (re ? !re.test(name) : name !== seg) continue;
        const rel = dir === '' ? name : `${dir}/${name}`;
        if (!ignore.excludes(rel)) next.push(rel);
      }
    }
    current = next;
  }
  return current;
}

/**
 * A digest of everything a COPY/ADD would read (names, types, modes, sizes, link targets and
 * contents, after .dockerignore), for the step cache key. Symlinked directories inside a source
 * tree are not followed, exactly as the copy does not follow them.
 */
export async function digestSources(sources: readonly ContextSource[], ignore: IgnoreMatcher, exclude?: IgnoreMatcher): Promise<string> {
  const h = createHash('sha256');
  const addFile = async (hostPath: string) => {
    const fh = createHash('sha256');
    await pipeline(createReadStream(hostPath), fh);
    h.update(fh.digest('hex'));
  };
  const visit = async (hostPath: string, rel: string, st: Stats, shown: string, inSource = ''): Promise<void> => {
    h.update(`\0${shown}\0${st.mode}\0`);
    if (st.isSymbolicLink()) {
      h.update(readlinkSync(hostPath));
    } else if (st.isFile()) {
      h.update(`${st.size}\0`);
      await addFile(hostPath);
    } else if (st.isDirectory()) {
      for (const name of readdirSync(hostPath).sort()) {
        const childRel = rel === '' ? name : `${rel}/${name}`;
        const childInSource = inSource === '' ? name : `${inSource}/${name}`;
        if (ignore.excludes(childRel) || exclude?.excludes(childInSource)) continue;
        const child = join(hostPath, name);
        await visit(child, childRel, lstatSync(child), `${shown}/${name}`, childInSource);
      }
    }
  };
  for (const s of sources) await visit(s.hostPath, s.rel, s.stats, s.rel);
  return h.digest('hex');
}
