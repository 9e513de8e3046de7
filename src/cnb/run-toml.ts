import { readTomlFile, TomlReader, type TomlTable } from './toml-file.js';

// run.toml (lifecycle platform/files/run.go; spec platform.md "run.toml"): the run images a
// platform may use, each with its mirrors.

export interface RunImageForExport {
  image: string;
  mirrors: string[];
}

export interface RunToml {
  images: RunImageForExport[];
}

/** Reads run.toml. A missing file reads as `{ images: [] }` (the lifecycle logs and goes on). */
export async function readRunToml(path: string): Promise<RunToml> {
  const table = await readTomlFile(path);
  if (table === null) return { images: [] };
  return parseRunToml(table, path);
}

/** Every `[[images]]` entry must have a string `image`; `mirrors` is an optional array of strings. */
export function parseRunToml(table: TomlTable, path: string): RunToml {
  const r = new TomlReader(path, table);
  return { images: r.tables('images').map((t) => ({ image: t.string('image'), mirrors: t.optStringArray('mirrors') ?? [] })) };
}
