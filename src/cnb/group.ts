import { CnbError } from './errors.js';
import { readTomlFile, TomlReader, type TomlTable } from './toml-file.js';

// group.toml (lifecycle buildpack.Group; spec platform.md "group.toml"): the buildpacks and the
// extensions that passed detection, in order.

export interface GroupElement {
  id: string;
  version: string;
  /** The Buildpack API the module implements ("" when absent; the caller verifies it). */
  api: string;
  homepage?: string;
}

export interface Group {
  /** `[[group]]`: buildpacks, used by the builder. */
  group: GroupElement[];
  /** `[[group-extensions]]`: extensions, applied by the extender in this order. */
  groupExtensions: GroupElement[];
}

/**
 * Reads group.toml. Unlike analyzed.toml, a missing group file is an error (the lifecycle fails
 * with `failed to read group file`). Every element must have a string `id`.
 */
export async function readGroup(path: string): Promise<Group> {
  const table = await readTomlFile(path);
  if (table === null) throw new CnbError('READ', `read ${path}: no such file`, { path });
  return parseGroup(table, path);
}

export function parseGroup(table: TomlTable, path: string): Group {
  const r = new TomlReader(path, table);
  return { group: r.tables('group').map(element), groupExtensions: r.tables('group-extensions').map(element) };
}

function element(t: TomlReader): GroupElement {
  const el: GroupElement = { id: t.string('id'), version: t.optString('version') ?? '', api: t.optString('api') ?? '' };
  const homepage = t.optString('homepage');
  if (homepage !== undefined) el.homepage = homepage;
  return el;
}

/** `id@version`, as the lifecycle names modules in messages. */
export function groupElementName(el: GroupElement): string {
  return `${el.id}@${el.version}`;
}
