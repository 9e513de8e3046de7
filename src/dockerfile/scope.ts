import { DockerfileError, type Loc } from './errors.js';
import { expand, expandWords } from './expand.js';
import { parseRunMount, type RunMount } from './mount.js';
import type { ArgInstruction, FromInstruction, Instruction, ParsedDockerfile, RunInstruction } from './types.js';

/**
 * The variables of one build stage, with Docker's scoping rules:
 * - Meta ARGs (before FROM) are visible in FROM only; inside the stage a bare `ARG name`
 *   re-declares one and takes its value.
 * - `ARG name[=default]` inside the stage: a build arg overrides the default; a bare ARG with
 *   neither build arg nor meta value is declared but unset (`${name-x}` gives x).
 * - Build args are visible only once declared, except the proxy variables (HTTP_PROXY …), which
 *   Docker and kaniko pass without a declaration.
 * - ENV always wins over an ARG of the same name, whatever their order (Docker's documented rule,
 *   and what kaniko does for the lifecycle).
 * - Expanded by the builder: ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR, ARG
 *   defaults and RUN --mount options. Not expanded: RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK commands
 *   and ONBUILD triggers; a RUN sees the ARGs and ENV as its process environment instead.
 */

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface BuildScopeOptions {
  /** Build args in order (the lifecycle passes build_id, user_id, group_id, the extension's args, base_image). */
  buildArgs?: Iterable<readonly [string, string]>;
  /** The ARG instructions before FROM. */
  metaArgs?: readonly ArgInstruction[];
  /** The base image's config Env ("K=V" entries). */
  env?: readonly string[];
  /** The escape character of the Dockerfile. */
  escape?: '\\' | '`';
  /** Sets TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT and the BUILD* equivalents, as Docker does. */
  platform?: Platform;
}

/** Proxy build args usable without an ARG declaration (Docker's predefined ARGs). */
export const PROXY_ARGS: ReadonlySet<string> = new Set([
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy',
  'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
]);

function platformArgs(p: Platform): Array<[string, string]> {
  const spec = [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/');
  const out: Array<[string, string]> = [];
  for (const prefix of ['TARGET', 'BUILD']) {
    out.push([`${prefix}PLATFORM`, spec], [`${prefix}OS`, p.os], [`${prefix}ARCH`, p.architecture], [`${prefix}VARIANT`, p.variant ?? '']);
  }
  return out;
}

function splitEnv(entry: string): [string, string] {
  const eq = entry.indexOf('=');
  return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
}

export class BuildScope {
  readonly escape: '\\' | '`';
  private readonly buildArgs: Map<string, string>;
  private readonly meta = new Map<string, string>();
  /** The config Env, in order. */
  private readonly envVars: Array<[string, string]>;
  /** ARGs declared in the stage, in order; undefined = declared without a value. */
  private readonly args = new Map<string, string | undefined>();
  private readonly consumed = new Set<string>();

  constructor(opts: BuildScopeOptions = {}) {
    this.escape = opts.escape ?? '\\';
    this.buildArgs = new Map(opts.buildArgs ?? []);
    this.envVars = (opts.env ?? []).map(splitEnv);
    for (const [k, v] of opts.platform ? platformArgs(opts.platform) : []) this.meta.set(k, v);
    for (const instr of opts.metaArgs ?? []) {
      for (const a of instr.args) {
        let value: string | undefined;
        if (this.buildArgs.has(a.name)) {
          value = this.buildArgs.get(a.name)!;
          this.consumed.add(a.name);
        } else if (a.value !== undefined) {
          value = this.guard(instr.loc, () => expand(a.value!, this.meta, { escape: this.escape }));
        }
        if (value !== undefined) this.meta.set(a.name, value);
      }
    }
  }

  /** A scope for the (single) stage of a parsed Dockerfile. */
  static forDockerfile(df: ParsedDockerfile, opts: Omit<BuildScopeOptions, 'metaArgs' | 'escape'> = {}): BuildScope {
    return new BuildScope({ ...opts, metaArgs: df.metaArgs, escape: df.escape });
  }

  /** The meta ARG values (what FROM can use). */
  metaVars(): ReadonlyMap<string, string> {
    return this.meta;
  }

  /** FROM's image (and platform) expanded with the meta ARGs only. */
  resolveFrom(from: FromInstruction): FromInstruction {
    return this.guard(from.loc, () => {
      const image = expand(from.image, this.meta, { escape: this.escape });
      const platform = from.platform !== undefined ? expand(from.platform, this.meta, { escape: this.escape }) : undefined;
      return { ...from, image, ...(platform !== undefined ? { platform } : {}) };
    });
  }

  /** `ARG name[=default]` inside the stage; returns the value it now has (undefined = unset). */
  declareArg(name: string, defaultValue?: string): string | undefined {
    let value: string | undefined;
    if (this.buildArgs.has(name)) {
      value = this.buildArgs.get(name)!;
      this.consumed.add(name);
    } else if (defaultValue !== undefined) {
      value = expand(defaultValue, this.lookup, { escape: this.escape });
    } else {
      value = this.meta.get(name);
    }
    this.args.delete(name); // a re-declaration moves to the end, as a new definition
    this.args.set(name, value);
    return value;
  }

  /** ENV key=value (adds or replaces in place, keeping the order of the config Env). */
  setEnv(key: string, value: string): void {
    const i = this.envVars.findIndex(([k]) => k === key);
    if (i >= 0) this.envVars[i] = [key, value];
    else this.envVars.push([key, value]);
  }

  /** The value of a variable for expansion: ENV, then a declared ARG, then a proxy build arg. */
  readonly lookup = (name: string): string | undefined => {
    const env = this.envVars.find(([k]) => k === name);
    if (env) return env[1];
    if (this.args.has(name)) return this.args.get(name);
    if (PROXY_ARGS.has(name)) return this.buildArgs.get(name);
    return undefined;
  };

  /** Expands one word (ProcessWord) with the variables in scope now. */
  expand(word: string): string {
    return expand(word, this.lookup, { escape: this.escape });
  }

  /** Expands and splits into words (ProcessWords). */
  expandWords(word: string): string[] {
    return expandWords(word, this.lookup, { escape: this.escape });
  }

  /** The config Env as it stands ("K=V" entries, base image's first). */
  env(): string[] {
    return this.envVars.map(([k, v]) => `${k}=${v}`);
  }

  /** Declared ARGs that have a value, plus given proxy build args; none shadowed by ENV. */
  argsInScope(): Map<string, string> {
    const out = new Map<string, string>();
    const envKeys = new Set(this.envVars.map(([k]) => k));
    for (const [k, v] of this.args) if (v !== undefined && !envKeys.has(k)) out.set(k, v);
    for (const k of PROXY_ARGS) {
      const v = this.buildArgs.get(k);
      if (v !== undefined && !envKeys.has(k) && !out.has(k)) out.set(k, v);
    }
    return out;
  }

  /**
   * The environment a RUN sees: the config Env, then the ARGs in scope that ENV does not shadow.
   * (The build engine adds Docker's default PATH if the image sets none.)
   */
  processEnv(): string[] {
    return [...this.env(), ...[...this.argsInScope()].map(([k, v]) => `${k}=${v}`)];
  }

  /** Build args that no ARG declared (Docker warns about these). Proxy args never count. */
  unusedBuildArgs(): string[] {
    return [...this.buildArgs.keys()].filter((k) => !this.consumed.has(k) && !PROXY_ARGS.has(k));
  }

  /**
   * The instruction with the fields Docker expands expanded against the current scope; the scope
   * itself is not changed (see `apply`). ARG is returned with each value as it would be declared,
   * evaluated in order. Errors carry the instruction's location.
   */
  resolve<T extends Instruction>(instr: T): T {
    return this.guard(instr.loc, () => this.resolveUnguarded(instr));
  }

  /** Resolves the instruction and applies ARG and ENV to the scope; use once per instruction, in order. */
  apply<T extends Instruction>(instr: T): T {
    return this.guard(instr.loc, () => {
      if (instr.kind === 'ARG') {
        const args = instr.args.map((a) => {
          const value = this.declareArg(a.name, a.value);
          return value === undefined ? { name: a.name } : { name: a.name, value };
        });
        return { ...instr, args };
      }
      const r = this.resolveUnguarded(instr);
      if (r.kind === 'ENV') for (const p of r.pairs) this.setEnv(p.key, p.value);
      return r;
    });
  }

  /** The RUN's `--mount` options, expanded and parsed. */
  runMounts(run: RunInstruction): RunMount[] {
    return this.guard(run.loc, () => run.mounts.map((m) => parseRunMount(m, (v) => this.expand(v))));
  }

  private resolveUnguarded<T extends Instruction>(instr: T): T {
    const x = (w: string) => this.expand(w);
    const i = instr as Instruction;
    let r: Instruction;
    switch (i.kind) {
      case 'FROM':
        r = this.resolveFrom(i);
        break;
      case 'ARG': {
        // Evaluate in order without declaring: a later default may use an earlier ARG.
        const trial = this.clone();
        r = { ...i, args: i.args.map((a) => {
          const value = trial.declareArg(a.name, a.value);
          return value === undefined ? { name: a.name } : { name: a.name, value };
        }) };
        break;
      }
      case 'ENV':
      case 'LABEL':
        // Every pair is expanded with the variables as they were before the instruction.
        r = { ...i, pairs: i.pairs.map((p) => ({ key: x(p.key), value: x(p.value) })) } as typeof i;
        break;
      case 'COPY':
      case 'ADD': {
        const inline = i.inline.map((s) =>
          s.expand ? { ...s, data: expand(s.data, this.lookup, { escape: '\\', keepQuotes: true }) } : s,
        );
        const opt = (k: 'chown' | 'chmod' | 'checksum') => {
          const v = (i as unknown as Record<string, unknown>)[k];
          return typeof v === 'string' ? { [k]: x(v) } : {};
        };
        r = { ...i, sources: i.sources.map(x), dest: x(i.dest), inline, ...opt('chown'), ...opt('chmod'), ...opt('checksum') } as typeof i;
        break;
      }
      case 'USER':
        r = { ...i, user: x(i.user) };
        break;
      case 'WORKDIR':
        r = { ...i, path: x(i.path) };
        break;
      case 'STOPSIGNAL':
        r = { ...i, signal: x(i.signal) };
        break;
      case 'VOLUME':
        r = { ...i, paths: i.paths.map(x) };
        break;
      case 'EXPOSE':
        r = { ...i, ports: i.ports.flatMap((p) => this.expandWords(p)) };
        break;
      default:
        r = i; // RUN CMD ENTRYPOINT SHELL HEALTHCHECK ONBUILD MAINTAINER: not expanded by the builder
    }
    return r as T;
  }

  private clone(): BuildScope {
    const c = new BuildScope({ buildArgs: this.buildArgs, escape: this.escape });
    for (const [k, v] of this.meta) c.meta.set(k, v);
    c.envVars.push(...this.envVars.map(([k, v]) => [k, v] as [string, string]));
    for (const [k, v] of this.args) c.args.set(k, v);
    return c;
  }

  private guard<R>(loc: Loc, f: () => R): R {
    try {
      return f();
    } catch (e) {
      if (e instanceof DockerfileError) throw e.at(loc);
      throw e;
    }
  }
}

