import { readFile } from 'node:fs/promises';
import TOML from '@iarna/toml';
import { isOciError, writeFileAtomic } from '../../oci/index.js';
import { CnbError } from './errors.js';

/** A parsed TOML table. Values are what @iarna/toml returns (string, number, boolean, Date, arrays, tables). */
export type TomlTable = Record<string, unknown>;

/** Files we read are small; anything bigger is not a lifecycle file. */
const MAX_BYTES = 16 << 20;

/**
 * Reads and parses a TOML file. A missing file yields `null` (callers decide whether that is an
 * error); any other failure is a CnbError naming the file (and the line, for syntax errors).
 */
export async function readTomlFile(path: string): Promise<TomlTable | null> {
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_BYTES) throw new CnbError('READ', `read ${path}: file is larger than ${MAX_BYTES} bytes`, { path });
    text = buf.toString('utf8');
  } catch (e) {
    if (e instanceof CnbError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CnbError('READ', `read ${path}: ${(e as Error).message}`, { path }, { cause: e });
  }
  return parseToml(text, path);
}

/** Parses TOML text; `path` names the source in errors. */
export function parseToml(text: string, path: string): TomlTable {
  try {
    return TOML.parse(text) as TomlTable;
  } catch (e) {
    const err = e as { line?: number; col?: number; message?: string };
    const line = typeof err.line === 'number' ? err.line + 1 : undefined;
    const first = String(err.message ?? e).split('\n')[0] ?? '';
    const where = line !== undefined ? `:${line}${typeof err.col === 'number' ? `:${err.col + 1}` : ''}` : '';
    // No cause: the parser's message repeats the first line and adds a multi-line source excerpt,
    // which the CLI's `: cause` chain printed after it on the same line.
    throw new CnbError('PARSE', `parse ${path}${where}: ${first.replace(/ at row \d+, col \d+, pos \d+:?$/, '')}`, line !== undefined ? { path, line } : { path });
  }
}

/** Serialises a table as TOML. `undefined` values are dropped (the way omitempty fields are). */
export function stringifyToml(table: TomlTable): string {
  return TOML.stringify(dropUndefined(table) as TOML.JsonMap);
}

/**
 * Writes a TOML file atomically: a temp file beside the target, fsync, rename, fsync of the
 * directory. Readers (and a crash) see either the old file or the new one.
 */
export async function writeTomlFileAtomic(path: string, table: TomlTable): Promise<void> {
  try {
    await writeFileAtomic(path, stringifyToml(table), { mode: 0o644 });
  } catch (e) {
    // This message names the file already: carry the system error, not oci's wrapper of it.
    const cause = isOciError(e) && e.cause !== undefined ? e.cause : e;
    throw new CnbError('WRITE', `write ${path}: ${(cause as Error).message}`, { path }, { cause });
  }
}

function dropUndefined(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropUndefined);
  if (isTable(v)) {
    const out: TomlTable = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = dropUndefined(x);
    return out;
  }
  return v;
}

export function isTable(v: unknown): v is TomlTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** The TOML type name of a parsed value, for error messages. */
export function tomlType(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'float';
  if (typeof v === 'bigint') return 'integer';
  if (v instanceof Date) return 'datetime';
  if (Array.isArray(v)) return 'array';
  if (isTable(v)) return 'table';
  return typeof v;
}

/**
 * Typed access to one table of a parsed file. Every accessor names the file and the full dotted
 * key in its error, e.g. `analyzed.toml: key "run-image.extend": expected a boolean, got string`.
 */
export class TomlReader {
  constructor(
    readonly path: string,
    readonly table: TomlTable,
    readonly prefix = '',
  ) {}

  key(k: string): string {
    return this.prefix === '' ? k : `${this.prefix}.${k}`;
  }

  private typeError(k: string, expected: string, got: unknown): CnbError {
    const key = this.key(k);
    return new CnbError('TYPE', `${this.path}: key "${key}": expected ${expected}, got ${tomlType(got)}`, { path: this.path, key });
  }

  missing(k: string, expected: string): CnbError {
    const key = this.key(k);
    return new CnbError('MISSING', `${this.path}: key "${key}" is required (${expected})`, { path: this.path, key });
  }

  has(k: string): boolean {
    return this.table[k] !== undefined;
  }

  string(k: string): string {
    const v = this.optString(k);
    if (v === undefined) throw this.missing(k, 'a string');
    return v;
  }

  optString(k: string): string | undefined {
    const v = this.table[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw this.typeError(k, 'a string', v);
    return v;
  }

  optBool(k: string): boolean | undefined {
    const v = this.table[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw this.typeError(k, 'a boolean', v);
    return v;
  }

  optStringArray(k: string): string[] | undefined {
    const v = this.table[k];
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) throw this.typeError(k, 'an array of strings', v);
    return v.map((x, i) => {
      if (typeof x !== 'string') {
        const key = `${this.key(k)}[${i}]`;
        throw new CnbError('TYPE', `${this.path}: key "${key}": expected a string, got ${tomlType(x)}`, { path: this.path, key });
      }
      return x;
    });
  }

  optTable(k: string): TomlReader | undefined {
    const v = this.table[k];
    if (v === undefined) return undefined;
    if (!isTable(v)) throw this.typeError(k, 'a table', v);
    return new TomlReader(this.path, v, this.key(k));
  }

  /** An array of tables (`[[k]]`); absent → []. */
  tables(k: string): TomlReader[] {
    const v = this.table[k];
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw this.typeError(k, 'an array of tables', v);
    return v.map((x, i) => {
      const key = `${this.key(k)}[${i}]`;
      if (!isTable(x)) {
        throw new CnbError('TYPE', `${this.path}: key "${key}": expected a table, got ${tomlType(x)}`, { path: this.path, key });
      }
      return new TomlReader(this.path, x, key);
    });
  }
}
