// Relative paths inside a rootfs as "byte strings": one JS char per byte (latin1), so names that
// are not valid UTF-8 survive exactly, `<` compares bytewise and `/` splits components. Every path
// handled by the snapshotters and the layer writer has this form: relative, no leading or
// trailing `/`, '' for the root.

/** A relative path as bytes-in-a-string (latin1: one char per byte). */
export type RelPath = string;

const ASCII_RE = /^[\x00-\x7f]*$/;

export function parentOf(p: RelPath): RelPath {
  const i = p.lastIndexOf('/');
  return i === -1 ? '' : p.slice(0, i);
}

export function baseOf(p: RelPath): RelPath {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** Proper ancestors of p, outermost first ('a/b/c' → ['a', 'a/b']). */
export function ancestorsOf(p: RelPath): RelPath[] {
  const out: RelPath[] = [];
  for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) out.push(p.slice(0, i));
  return out;
}

/** The bytes of a relative path. */
export function pathBytes(p: RelPath): Buffer {
  return Buffer.from(p, 'latin1');
}

/** The human form of a relative path (UTF-8 decoded; exact for valid UTF-8). */
export function displayPath(p: RelPath): string {
  return ASCII_RE.test(p) ? p : Buffer.from(p, 'latin1').toString('utf8');
}

/**
 * Absolute filesystem paths under one root. Node's fs accepts Buffer paths, which is how names
 * that are not UTF-8 are reached; plain ASCII paths stay strings (cheaper).
 */
export class RootPath {
  readonly root: string;
  private readonly rootBytes: Buffer;
  constructor(root: string) {
    this.root = root.length > 1 ? root.replace(/\/+$/, '') : root;
    this.rootBytes = Buffer.from(this.root, 'utf8');
  }

  /** The absolute path of p, as a string when p is ASCII, else as bytes. */
  abs(p: RelPath): string | Buffer {
    if (p === '') return this.root;
    if (ASCII_RE.test(p)) return `${this.root}/${p}`;
    return Buffer.concat([this.rootBytes, Buffer.from('/'), Buffer.from(p, 'latin1')]);
  }

  /**
   * The absolute path as a string, for APIs that only take strings (the native xattr calls), or
   * null when the path is not valid UTF-8 and so cannot be named by a JS string.
   */
  absString(p: RelPath): string | null {
    const a = this.abs(p);
    if (typeof a === 'string') return a;
    const s = a.toString('utf8');
    return Buffer.from(s, 'utf8').equals(a) ? s : null;
  }
}

/**
 * Layer order: depth-first, children of a directory sorted bytewise by name, with the whiteouts of
 * a directory before its other entries (image-spec: whiteouts SHOULD precede sibling entries),
 * parents before children.
 */
export function compareLayerOrder(a: RelPath, aWhiteout: boolean, b: RelPath, bWhiteout: boolean): number {
  if (a === b) return aWhiteout === bWhiteout ? 0 : aWhiteout ? -1 : 1;
  let i = 0;
  for (;;) {
    const ea = a.indexOf('/', i);
    const eb = b.indexOf('/', i);
    const ca = ea === -1 ? a.slice(i) : a.slice(i, ea);
    const cb = eb === -1 ? b.slice(i) : b.slice(i, eb);
    if (ca !== cb) {
      // A whiteout is always the last component of its path; it sorts before its siblings.
      const wa = ea === -1 && aWhiteout;
      const wb = eb === -1 && bWhiteout;
      if (wa !== wb) return wa ? -1 : 1;
      return ca < cb ? -1 : 1;
    }
    if (ea === -1) return -1; // a is an ancestor of b
    if (eb === -1) return 1;
    i = ea + 1;
  }
}
