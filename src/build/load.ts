import { lintText, type DockerfileKind, type ParsedDockerfile } from '../dockerfile/index.js';
import { BuildError } from './errors.js';

export interface LoadedDockerfile {
  dockerfile: ParsedDockerfile;
  /** `file:line: message` lines, as `cnb-extender lint` prints them. */
  warnings: string[];
  /** run.Dockerfile whose FROM names another image (a run-image switch). */
  isSwitch: boolean;
}

/**
 * Parses `text` and validates it as a CNB extension Dockerfile of `kind`, exactly as `lint` does,
 * before anything runs (architecture §0.8): errors throw one BuildError listing every problem with
 * its file and line; warnings are returned.
 */
export function loadExtensionDockerfile(text: string, path: string, kind: DockerfileKind): LoadedDockerfile {
  const r = lintText(text, kind, path);
  const fmt = (d: { line?: number; message: string; hint?: string }) =>
    `${path}${d.line !== undefined ? `:${d.line}` : ''}: ${d.message}${d.hint ? ` (${d.hint})` : ''}`;
  if (r.errors.length > 0 || !r.parsed) {
    const first = r.errors[0];
    throw new BuildError('INVALID_DOCKERFILE', r.errors.map(fmt).join('\n') || `${path}: cannot be parsed`, {
      file: path,
      ...(first?.line !== undefined ? { line: first.line } : {}),
    });
  }
  return { dockerfile: r.parsed, warnings: r.warnings.map(fmt), isSwitch: r.isSwitch };
}
