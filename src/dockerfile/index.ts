// The Dockerfile front end: pure (text in, values out; no filesystem), used by build/ and the CLI.
export { DockerfileError, type DockerfileErrorCode, type Loc } from './errors.js';
export * from './types.js';
export type { Heredoc, Directive } from './scanner.js';
export { parseDockerfile } from './parse.js';
export { expand, expandWords, unsetVariables, type ExpandOptions, type Vars } from './expand.js';
export { BuildScope, PROXY_ARGS, type BuildScopeOptions, type Platform } from './scope.js';
export { parseRunMount, type RunMount, type MountType } from './mount.js';
export { runInvocation, commandArgv, createdBy, DEFAULT_SHELL, type RunInvocation, type InlineFile } from './command.js';
export {
  lintDockerfile,
  lintText,
  lintFiles,
  formatLintReport,
  guessKind,
  looksLikeDockerfile,
  LifecycleMessages,
  RECOMMENDED,
  BASE_IMAGE_ARG,
  BASE_IMAGE_REF,
  type DockerfileKind,
  type LintDiag,
  type LintResult,
  type LintReport,
} from './lint.js';
