import type { ConfigFile, History } from '../../oci/index.js';
import type { Logger } from '../log.js';
import { userFrom } from './build-args.js';
import type { DockerfileRef, ExtendKind } from './dockerfiles.js';
import { ExtenderError } from './errors.js';

// What the lifecycle does to the image config around the Dockerfiles (contract.md §3.3–§3.7;
// lifecycle phase/extender.go `extend`): the rebasable label, the history rewrite, the zero
// `created`, and the user checks. Pure: it maps configs to configs and logs warnings.

export const REBASABLE_LABEL = 'io.buildpacks.rebasable';
/** JSON of Go's zero time.Time, what the lifecycle sets `created` to. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** `Layer: '<created_by>', Created by extension: <id>` (lifecycle layers.ExtensionLayerName). */
export function extensionLayerName(createdBy: string, extensionId: string): string {
  return `Layer: '${createdBy}', Created by extension: ${extensionId}`;
}

/** The uid part of a `User` is exactly `0` or `root`. An empty user is not root (a QUIRK we keep). */
export function isRootUser(userId: string): boolean {
  return userId === '0' || userId === 'root';
}

/** strconv.ParseBool of the label; unset or unparsable is false. */
export function isRebasable(cfg: ConfigFile): boolean {
  const v = cfg.config?.Labels?.[REBASABLE_LABEL];
  return v !== undefined && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v);
}

/**
 * imgutil NormalizedHistory: the history without `empty_layer` entries when that leaves exactly
 * one entry per layer; otherwise `nLayers` blank entries.
 */
export function normalizedHistory(history: readonly History[] | undefined, nLayers: number): History[] {
  const blank = (): History[] => Array.from({ length: nLayers }, () => ({ created: ZERO_TIME }));
  if (history === undefined) return blank();
  const kept = history.filter((h) => !h.empty_layer);
  return kept.length === nLayers ? kept.map((h) => ({ ...h })) : blank();
}

/**
 * The state the lifecycle carries across the Dockerfiles of one extension run. Call
 * `afterDockerfile` with each Dockerfile's resulting config, then `finish` once, then `finalConfig`.
 */
export class ExtensionPolicy {
  private rebasable = true; // the base image need not be rebasable itself
  private history: History[];
  private userId: string;
  private readonly origUserId: string;
  private last: ConfigFile;

  constructor(
    readonly kind: ExtendKind,
    base: ConfigFile,
    private readonly log: Logger,
  ) {
    this.history = normalizedHistory(base.history, base.rootfs.diff_ids.length);
    this.userId = userFrom(base.config?.User).userId;
    this.origUserId = this.userId;
    this.last = base;
  }

  /** Records one applied Dockerfile: the rebasable AND, the new history entries, the user warning. */
  afterDockerfile(df: DockerfileRef, result: ConfigFile): void {
    if (!isRebasable(result)) this.rebasable = false;
    const fresh = normalizedHistory(result.history, result.rootfs.diff_ids.length);
    for (let i = this.history.length; i < fresh.length; i++) {
      this.history.push({ created: ZERO_TIME, created_by: extensionLayerName(fresh[i]!.created_by ?? '', df.extensionId) });
    }
    const prev = this.userId;
    this.userId = userFrom(result.config?.User).userId;
    if (isRootUser(this.userId)) {
      this.log.warn(
        `Extension from ${df.path} changed the user ID from ${prev} to ${this.userId}; this must not be the final user ID (a following extension must reset the user).`,
      );
    }
    this.last = result;
  }

  /** The end-of-run checks: a root user fails kind=run; a changed user warns. */
  finish(): void {
    if (isRootUser(this.userId) && this.kind === 'run') {
      throw new ExtenderError('FINAL_USER_ROOT', 'the final user ID is 0 (root); please add another extension that resets the user to non-root', {
        kind: this.kind,
      });
    }
    if (this.userId !== this.origUserId) {
      this.log.warn(`The original user ID was ${this.origUserId} but the final extension left the user ID set to ${this.userId}.`);
    }
  }

  /**
   * The final config: the last Dockerfile's config with `created` zeroed, the rewritten history
   * (len(history) == len(diff_ids)) and, for kind=run, the rebasable label always written.
   */
  finalConfig(): ConfigFile {
    const cfg: ConfigFile = { ...this.last, created: ZERO_TIME, history: this.history.map((h) => ({ ...h })) };
    if (this.kind === 'run') {
      cfg.config = { ...cfg.config, Labels: { ...cfg.config?.Labels, [REBASABLE_LABEL]: String(this.rebasable) } };
    }
    return cfg;
  }
}
