import { readTomlFile, TomlReader, type TomlTable } from './toml-file.js';

// extend-config.toml (lifecycle internal/extend/config.go; spec image_extension.md): build args an
// extension passes to its build.Dockerfile (`[[build.args]]`) and run.Dockerfile (`[[run.args]]`).

export interface BuildArg {
  name: string;
  value: string;
}

export interface ExtendConfig {
  build: { args: BuildArg[] };
  run: { args: BuildArg[] };
}

/** Reads extend-config.toml. A missing file reads as no args (as in the lifecycle). */
export async function readExtendConfig(path: string): Promise<ExtendConfig> {
  const table = await readTomlFile(path);
  if (table === null) return { build: { args: [] }, run: { args: [] } };
  return parseExtendConfig(table, path);
}

/** Every arg must have a string `name`; a missing `value` is the empty string, as in the lifecycle. */
export function parseExtendConfig(table: TomlTable, path: string): ExtendConfig {
  const r = new TomlReader(path, table);
  const args = (kind: 'build' | 'run'): BuildArg[] =>
    (r.optTable(kind)?.tables('args') ?? []).map((t) => ({ name: t.string('name'), value: t.optString('value') ?? '' }));
  return { build: { args: args('build') }, run: { args: args('run') } };
}
