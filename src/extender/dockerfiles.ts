import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { apiAtLeast, escapeID, readExtendConfig, type ApiVersion, type BuildArg, type GroupElement } from '../cnb/index.js';
import type { Logger } from '../log.js';
import { ExtenderError } from './errors.js';

export type ExtendKind = 'build' | 'run';

/** One Dockerfile to apply, with everything the lifecycle passes along with it. */
export interface DockerfileRef {
  extensionId: string;
  kind: ExtendKind;
  /** The Dockerfile. */
  path: string;
  /** The extension's extend-config.toml (may not exist). */
  configPath: string;
  /** The build context directory for COPY/ADD. */
  contextDir: string;
  /** `[[<kind>.args]]` of extend-config.toml, in file order. */
  args: BuildArg[];
}

export interface DiscoveryOptions {
  generatedDir: string;
  appDir: string;
  platformApi: ApiVersion;
  kind: ExtendKind;
  log?: Logger;
}

/**
 * The Dockerfiles to apply, in `[[group-extensions]]` order (contract.md §2.1):
 * - Platform < 0.13: `<generated>/<kind>/<esc-id>/Dockerfile`, context `<app>`;
 * - Platform ≥ 0.13: `<generated>/<esc-id>/<kind>.Dockerfile`, context
 *   `<generated>/<esc-id>/context.<kind>/` > `…/context/` > `<app>`.
 * An extension without a Dockerfile for the kind is skipped; `*.ignore` files (written by the
 * detector for run.Dockerfiles before a switch) are never looked at.
 */
export async function findDockerfiles(extensions: readonly GroupElement[], o: DiscoveryOptions): Promise<DockerfileRef[]> {
  const out: DockerfileRef[] = [];
  for (const ext of extensions) {
    const ref = await dockerfileFor(ext.id, o);
    if (ref) {
      o.log?.debug(`Found ${o.kind} Dockerfile for extension '${ext.id}'`);
      out.push(ref);
    }
  }
  return out;
}

async function dockerfileFor(extensionId: string, o: DiscoveryOptions): Promise<DockerfileRef | null> {
  const esc = escapeID(extensionId);
  const newLayout = apiAtLeast(o.platformApi, '0.13');
  const dir = newLayout ? join(o.generatedDir, esc) : join(o.generatedDir, o.kind, esc);
  const path = newLayout ? join(dir, `${o.kind}.Dockerfile`) : join(dir, 'Dockerfile');
  const configPath = join(dir, 'extend-config.toml');

  const st = await stat(path).catch((e: NodeJS.ErrnoException) => {
    // Like the lifecycle (os.Stat), a Dockerfile we cannot see is no Dockerfile.
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return null;
    throw new ExtenderError('DOCKERFILE', `stat ${path}`, { kind: o.kind, path, extensionId }, { cause: e });
  });
  if (st === null) return null;
  if (!st.isFile()) {
    throw new ExtenderError('DOCKERFILE', `${path} is not a regular file`, { kind: o.kind, path, extensionId });
  }
  let args: BuildArg[];
  try {
    args = (await readExtendConfig(configPath))[o.kind].args;
  } catch (e) {
    throw new ExtenderError('EXTEND_CONFIG', `reading extend config for extension '${extensionId}'`, { kind: o.kind, path: configPath, extensionId }, { cause: e });
  }
  const contextDir = newLayout ? await contextDirFor(dir, o.kind, o.appDir) : o.appDir;
  return { extensionId, kind: o.kind, path, configPath, contextDir, args };
}

async function contextDirFor(extDir: string, kind: ExtendKind, appDir: string): Promise<string> {
  for (const d of [join(extDir, `context.${kind}`), join(extDir, 'context')]) {
    const st = await stat(d).catch(() => null);
    if (st?.isDirectory()) return d;
  }
  return appDir;
}
