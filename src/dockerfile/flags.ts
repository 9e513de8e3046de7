import { DockerfileError, type Loc } from './errors.js';

/**
 * `--flag` parsing for one instruction (BuildKit `instructions/bflag.go`): each instruction declares
 * the flags it accepts; anything else is an error naming the flag and the accepted ones.
 */

export type FlagKind = 'bool' | 'string' | 'strings';

export interface FlagSpec {
  [name: string]: FlagKind;
}

export interface ParsedFlags {
  /** Flags that were given, as written (values for string flags, 'true'/'false' for bool flags). */
  values: Map<string, string>;
  /** All values of repeatable flags (`--exclude`, `--mount`). */
  lists: Map<string, string[]>;
}

/** Flags that exist only in Docker's labs syntax, so an error can say so. */
const LABS_ONLY: Record<string, string> = {
  security: 'RUN --security exists only in the docker/dockerfile:1-labs syntax',
  device: 'RUN --device exists only in the docker/dockerfile:1-labs syntax',
};

export function parseFlags(keyword: string, raw: readonly string[], spec: FlagSpec, loc: Loc): ParsedFlags {
  const values = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const accepted = Object.keys(spec).map((n) => `--${n}`);
  const fail = (detail: string, hint?: string): never => {
    throw new DockerfileError('FLAG', `${keyword}: ${detail}`, { loc, ...(hint ? { hint } : {}) });
  };
  for (const a of raw) {
    if (a === '--') break;
    if (!a.startsWith('--')) fail(`arg should start with -- : ${a}`);
    const eq = a.indexOf('=');
    const flagName = eq < 0 ? a : a.slice(0, eq);
    const value = eq < 0 ? undefined : a.slice(eq + 1);
    const name = flagName.slice(2);
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!kind) {
      const why = LABS_ONLY[name];
      fail(
        `unknown flag: ${flagName}`,
        why ?? (accepted.length ? `${keyword} accepts ${accepted.join(', ')}` : `${keyword} takes no flags`),
      );
    }
    if (kind !== 'strings' && values.has(name)) fail(`duplicate flag specified: ${flagName}`);
    switch (kind) {
      case 'bool': {
        if (value === '') fail(`missing a value on flag: ${flagName}`);
        const v = (value ?? 'true').toLowerCase();
        if (v !== 'true' && v !== 'false') fail(`expecting boolean value for flag ${flagName}, not: ${value}`);
        values.set(name, v);
        break;
      }
      case 'string':
        if (value === undefined) fail(`missing a value on flag: ${flagName}`, `write ${flagName}=<value>`);
        values.set(name, value!);
        break;
      case 'strings':
        if (value === undefined) fail(`missing a value on flag: ${flagName}`, `write ${flagName}=<value>`);
        values.set(name, value!);
        lists.set(name, [...(lists.get(name) ?? []), value!]);
        break;
    }
  }
  return { values, lists };
}
