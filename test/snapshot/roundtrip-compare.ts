// The comparable form of a tree for the round-trip and cross-check tests.
import { keepXattr } from '../../snapshot/layer-writer-xattrs.js';
import { dumpTree, renderTree, type TreeEntry } from '../helpers/tree.js';

/**
 * A tree for comparison: kept xattrs only; mtimes for non-directories (directory mtimes are not
 * carried when only their contents changed, by design); hardlinks apart (see `links`).
 */
export function comparable(dir: string): { tree: string[]; links: Set<string> } {
  const entries = dumpTree(dir, { mtime: true, xattrFilter: keepXattr });
  const links = new Set(entries.filter((e) => e.hardlink !== undefined).map((e) => `${e.path} = ${e.hardlink}`));
  const tree = renderTree(entries.map((e): TreeEntry => {
    const { hardlink: _h, mtime, ...rest } = e;
    return e.type === 'dir' ? rest : { ...rest, ...(mtime !== undefined ? { mtime } : {}) };
  }));
  return { tree, links };
}
