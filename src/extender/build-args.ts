import type { BuildArg } from '../cnb/index.js';

// Build args for one Dockerfile (contract.md §2.5; lifecycle phase/extender.go and kaniko
// dockerfile_applier.go), in the order the lifecycle passes them; a later duplicate name wins.

/**
 * `user_id` and `group_id` from an image config's `User`: the parts before and after the first
 * `:`; no colon means an empty group. Like the lifecycle (Go strings.Split, fields 0 and 1), a
 * malformed `a:b:c` gives group `b`. The values are raw strings (they may be names, or empty).
 */
export function userFrom(user: string | undefined): { userId: string; groupId: string } {
  const parts = (user ?? '').split(':');
  return { userId: parts[0] ?? '', groupId: parts[1] ?? '' };
}

export interface BuildArgInputs {
  /** A fresh UUID v4 for this Dockerfile application. */
  buildId: string;
  /** `User` of the current intermediate image config. */
  user: string | undefined;
  /** The extension's `[[<kind>.args]]`, in file order. */
  extendConfigArgs: readonly BuildArg[];
  /** A reference to the current intermediate image (`base@sha256:<digest>`, as the lifecycle passes). */
  baseImage: string;
}

/** `build_id`, `user_id`, `group_id`, the extend-config args, then `base_image`. */
export function buildArgs(i: BuildArgInputs): BuildArg[] {
  const { userId, groupId } = userFrom(i.user);
  return [
    { name: 'build_id', value: i.buildId },
    { name: 'user_id', value: userId },
    { name: 'group_id', value: groupId },
    ...i.extendConfigArgs.map((a) => ({ name: a.name, value: a.value })),
    { name: 'base_image', value: i.baseImage },
  ];
}
