import { createHash } from 'node:crypto';

// Step cache keys (contract.md §4.3). The key covers everything a RUN/COPY/ADD result depends on:
// the filesystem it starts from (the chainID of the image so far), the config it runs with, the
// instruction as written, the build args in scope with their values, and for COPY/ADD the digest
// of the context files it reads. Any change gives a different key, so entries never go stale;
// the TTL only bounds how long they are kept.

export interface StepKeyInput {
  /** chainID of the image the step runs on (of its diff_ids); null for an image without layers. */
  parentChainID: string | null;
  /** The config the step runs with. */
  config: {
    env: readonly string[];
    user: string;
    workdir: string;
    shell: readonly string[];
  };
  /** `os/arch[/variant]` of the image. */
  platform: string;
  /** The instruction as written (continuation lines joined), e.g. `RUN apt-get update`. */
  instruction: string;
  /** Build args in scope for the step (declared by ARG in the stage), with their values. */
  args: ReadonlyArray<readonly [string, string]>;
  /** COPY/ADD: a digest of the context content the step reads (names, modes, contents). */
  contextDigest?: string;
  /** COPY --from, heredoc bodies, flags…: anything else the engine knows the result depends on. */
  extra?: string;
}

const KEY_VERSION = 1;

/** sha256 (hex) of a canonical encoding of the input. */
export function stepCacheKey(i: StepKeyInput): string {
  const canonical = JSON.stringify([
    KEY_VERSION,
    i.parentChainID,
    i.platform,
    [i.config.env, i.config.user, i.config.workdir, i.config.shell],
    i.instruction,
    i.args.map(([k, v]) => [k, v]),
    i.contextDigest ?? null,
    i.extra ?? null,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * Keys for the steps of one Dockerfile application. `build_id` is a fresh UUID each time, so a
 * step that has it in scope can never hit; rather than write entries nobody will read, such a step
 * and every step after it get no key (the engine runs them and does not store them). kaniko reaches
 * the same outcome by putting the UUID into its keys.
 */
export class StepKeyer {
  private bypass = false;

  /** The key for a step, or null when the step must run uncached. */
  keyFor(i: StepKeyInput): string | null {
    if (!this.bypass && i.args.some(([k]) => k === 'build_id')) this.bypass = true;
    return this.bypass ? null : stepCacheKey(i);
  }

  /** Whether the build_id bypass is in effect (for the step report). */
  get bypassed(): boolean {
    return this.bypass;
  }
}
