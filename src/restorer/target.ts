import type { ConfigFile } from '../../oci/index.js';
import type { TargetMetadata } from '../cnb/index.js';

// `[run-image.target]` from an image config (lifecycle platform/target_data.go GetTargetMetadata).

export const TARGET_LABEL = 'io.buildpacks.base.id';
export const DISTRO_NAME_LABEL = 'io.buildpacks.base.distro.name';
export const DISTRO_VERSION_LABEL = 'io.buildpacks.base.distro.version';

/**
 * os, architecture and variant from the config; the distro when either distro label is present
 * (the other one then reads as ""), the id when its label is present.
 */
export function targetFromConfig(config: ConfigFile): TargetMetadata {
  const t: TargetMetadata = { os: config.os ?? '', arch: config.architecture ?? '' };
  if (config.variant) t.archVariant = config.variant;
  const labels = config.config?.Labels ?? {};
  const has = (k: string) => Object.prototype.hasOwnProperty.call(labels, k);
  if (has(DISTRO_NAME_LABEL) || has(DISTRO_VERSION_LABEL)) {
    t.distro = { name: labels[DISTRO_NAME_LABEL] ?? '', version: labels[DISTRO_VERSION_LABEL] ?? '' };
  }
  if (has(TARGET_LABEL)) t.id = labels[TARGET_LABEL] ?? '';
  return t;
}
