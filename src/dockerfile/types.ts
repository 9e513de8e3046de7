import type { Loc } from './errors.js';
import type { Heredoc } from './scanner.js';

/**
 * Typed Dockerfile instructions: one variant per keyword, discriminated by `kind`. Values are as
 * written (quotes and `$VAR` still in them); `BuildScope.resolve` expands them with Docker's rules
 * when the build reaches the instruction, because expansion depends on the ARG/ENV state there.
 */

export type Keyword =
  | 'FROM'
  | 'ARG'
  | 'ENV'
  | 'LABEL'
  | 'RUN'
  | 'COPY'
  | 'ADD'
  | 'USER'
  | 'WORKDIR'
  | 'SHELL'
  | 'CMD'
  | 'ENTRYPOINT'
  | 'EXPOSE'
  | 'VOLUME'
  | 'STOPSIGNAL'
  | 'HEALTHCHECK'
  | 'ONBUILD'
  | 'MAINTAINER';

export const KEYWORDS: readonly Keyword[] = [
  'FROM', 'ARG', 'ENV', 'LABEL', 'RUN', 'COPY', 'ADD', 'USER', 'WORKDIR', 'SHELL',
  'CMD', 'ENTRYPOINT', 'EXPOSE', 'VOLUME', 'STOPSIGNAL', 'HEALTHCHECK', 'ONBUILD', 'MAINTAINER',
];

interface Base<K extends Keyword> {
  kind: K;
  loc: Loc;
  /**
   * The instruction as BuildKit keeps it (`node.Original`, trimmed): keyword as written, flags,
   * continuation lines joined with the escape character removed, comment lines inside dropped,
   * here-doc bodies excluded. kaniko records exactly this as the history `created_by`.
   */
  original: string;
  /** The source lines `loc.line`..`loc.endLine` exactly as written (here-doc bodies included). */
  source: string;
}

/** Shell form (`RUN echo hi`, run as `[...SHELL, command]`) or exec form (`RUN ["echo","hi"]`). */
export type CommandLine = { form: 'shell'; command: string } | { form: 'exec'; argv: string[] };

export interface KeyValue {
  key: string;
  value: string;
}

/** `ARG name` or `ARG name=default`; the default is expanded when the ARG is reached. */
export interface ArgDecl {
  name: string;
  value?: string;
}

/** A here-doc used as a COPY/ADD source: a file named `name` holding `data` (tabs already chomped). */
export interface InlineSource {
  name: string;
  data: string;
  /** Expand `$VAR` in `data` (unquoted delimiter); quotes in the body are kept. */
  expand: boolean;
}

/** FROM [--platform=p] image [AS name] */
export interface FromInstruction extends Base<'FROM'> {
  /** The image as written, unexpanded (the lifecycle compares this text with `${base_image}`). */
  image: string;
  stageName?: string;
  platform?: string;
}

/** ARG name[=default] … */
export interface ArgInstruction extends Base<'ARG'> {
  args: ArgDecl[];
}

/** ENV k=v … or the legacy ENV k v (the rest of the line is the value). */
export interface EnvInstruction extends Base<'ENV'> {
  pairs: KeyValue[];
  legacy: boolean;
}

/** LABEL k=v … or the legacy LABEL k v. */
export interface LabelInstruction extends Base<'LABEL'> {
  pairs: KeyValue[];
  legacy: boolean;
}

/** RUN [--mount=…] [--network=…] command; `<<EOF` here-docs follow the line. */
export interface RunInstruction extends Base<'RUN'> {
  cmd: CommandLine;
  /** Here-docs in order of their delimiters on the line (shell form only). */
  heredocs: Heredoc[];
  /** `--mount` values as written; `BuildScope.resolve` expands and parses them (`parseRunMount`). */
  mounts: string[];
  /** `--network`; absent means default. */
  network?: 'default' | 'none' | 'host';
}

interface CopyFields {
  /** Source paths as written (context-relative; may hold wildcards). */
  sources: string[];
  /** Here-doc sources (`COPY <<EOF /dest`). */
  inline: InlineSource[];
  dest: string;
  /** Written in JSON form (paths may then contain spaces). */
  json: boolean;
  chown?: string;
  chmod?: string;
  link: boolean;
  exclude: string[];
}

/** COPY [--chown] [--chmod] [--link] [--parents] [--exclude] src… dest (no --from: one stage only). */
export interface CopyInstruction extends Base<'COPY'>, CopyFields {
  parents: boolean;
}

/** ADD [--chown] [--chmod] [--link] [--checksum] [--keep-git-dir] [--unpack] [--exclude] src… dest */
export interface AddInstruction extends Base<'ADD'>, CopyFields {
  checksum?: string;
  keepGitDir?: boolean;
  unpack?: boolean;
}

export interface UserInstruction extends Base<'USER'> {
  user: string;
}

export interface WorkdirInstruction extends Base<'WORKDIR'> {
  path: string;
}

/** SHELL ["executable", "param"…] (JSON form only). */
export interface ShellInstruction extends Base<'SHELL'> {
  argv: string[];
}

export interface CmdInstruction extends Base<'CMD'> {
  cmd: CommandLine;
}

/** An empty exec form (`ENTRYPOINT []`) clears the entrypoint (Docker sets it to null). */
export interface EntrypointInstruction extends Base<'ENTRYPOINT'> {
  cmd: CommandLine;
}

export interface ExposeInstruction extends Base<'EXPOSE'> {
  ports: string[];
}

export interface VolumeInstruction extends Base<'VOLUME'> {
  paths: string[];
}

export interface StopsignalInstruction extends Base<'STOPSIGNAL'> {
  signal: string;
}

/** Durations in nanoseconds, as the image config stores them. */
export interface HealthcheckOptions {
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

/** HEALTHCHECK NONE → test ["NONE"]; CMD ["a"] → ["CMD","a"]; CMD a b → ["CMD-SHELL","a b"]. */
export interface HealthcheckInstruction extends Base<'HEALTHCHECK'> {
  test: string[];
  /** Absent for NONE. */
  options?: HealthcheckOptions;
}

export interface OnbuildInstruction extends Base<'ONBUILD'> {
  /** What goes into the image config's OnBuild list: the trigger as written, here-docs appended. */
  expression: string;
  /** The trigger's keyword, upper case. */
  trigger: Keyword;
}

export interface MaintainerInstruction extends Base<'MAINTAINER'> {
  maintainer: string;
}

export type Instruction =
  | FromInstruction
  | ArgInstruction
  | EnvInstruction
  | LabelInstruction
  | RunInstruction
  | CopyInstruction
  | AddInstruction
  | UserInstruction
  | WorkdirInstruction
  | ShellInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ExposeInstruction
  | VolumeInstruction
  | StopsignalInstruction
  | HealthcheckInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

/** A finding of the parser or the linter, with where it is. */
export interface Diag {
  severity: 'error' | 'warning';
  /** Stable identifier (a DockerfileError code or a lint rule). */
  code: string;
  message: string;
  file?: string;
  line?: number;
  endLine?: number;
}

export interface Stage {
  from: FromInstruction;
  /** The instructions after FROM, up to the next FROM. */
  instructions: Instruction[];
}

export interface ParsedDockerfile {
  file?: string;
  /** From `# escape=` (default backslash). */
  escape: '\\' | '`';
  /** `# syntax=` if given: accepted and ignored (the front end is built in). */
  syntax?: string;
  /** Every instruction in file order (meta ARGs and FROMs included). */
  instructions: Instruction[];
  /** ARGs before the first FROM: visible in FROM only, unless re-declared inside the stage. */
  metaArgs: ArgInstruction[];
  stages: Stage[];
  /** Parser warnings (e.g. blank lines inside a continuation). */
  warnings: Diag[];
}
