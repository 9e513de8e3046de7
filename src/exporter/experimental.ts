// The lifecycle's experimental-feature guard (platform/guard.go) and the exporter's use of it
// (cmd/lifecycle/exporter.go Exec): below Platform 0.13, run-image extension output makes the
// exporter consult CNB_EXPERIMENTAL_MODE; from 0.13 the feature is no longer experimental.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { apiAtLeast, parseApiVersion } from '../cnb/index.js';
import type { Logger } from '../log.js';
import { ExportError } from './errors.js';

export const ENV_EXPERIMENTAL_MODE = 'CNB_EXPERIMENTAL_MODE';
export const FEATURE_DOCKERFILES = 'Dockerfiles';

export type ExperimentalMode = 'quiet' | 'warn' | 'error';

/** The mode from the environment; unset or empty means the lifecycle's default, `error`. */
export function experimentalMode(env: Readonly<Record<string, string | undefined>>): string {
  const v = env[ENV_EXPERIMENTAL_MODE];
  return v === undefined || v === '' ? 'error' : v;
}

/** GuardExperimental: `error` fails, `quiet` says nothing, anything else warns. */
export function guardExperimental(feature: string, mode: string, log: Logger): void {
  if (mode === 'quiet') return;
  if (mode === 'error') {
    log.error(`Platform requested experimental feature '${feature}'`);
    throw new ExportError('EXPERIMENTAL', `experimental features are disabled by ${ENV_EXPERIMENTAL_MODE}=error`);
  }
  log.warn(`Platform requested experimental feature '${feature}'`);
}

/** hasExtendedLayers: `<extended>/run` exists and is not empty. */
export async function hasExtendedLayers(extendedDir: string | undefined): Promise<boolean> {
  if (!extendedDir) return false;
  try {
    return (await readdir(join(extendedDir, 'run'))).length > 0;
  } catch {
    return false;
  }
}

/**
 * The exporter's check (§9 item 30): below Platform 0.13, run-extension output is an experimental
 * feature governed by CNB_EXPERIMENTAL_MODE; from 0.13 the mode is not consulted at all.
 */
export async function checkRunExtensionExperimental(o: {
  platformApi: string;
  extendedDir: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  log: Logger;
}): Promise<void> {
  const api = parseApiVersion(o.platformApi);
  if (!api) throw new ExportError('INPUT', `invalid Platform API ${JSON.stringify(o.platformApi)}`);
  if (apiAtLeast(api, '0.13')) return;
  if (await hasExtendedLayers(o.extendedDir)) guardExperimental(FEATURE_DOCKERFILES, experimentalMode(o.env), o.log);
}
