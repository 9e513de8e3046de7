// Paths that never appear in a layer we write.

/**
 * `ignore(relPath)`: true when the path (relative, no leading '/', UTF-8 display form) must not be
 * in a layer. An ignored directory is ignored with everything beneath it.
 */
export type IgnorePredicate = (relPath: string) => boolean;

/**
 * What the RUN executor mounts or creates to mount (removing its placeholders afterwards), and what
 * the lifecycle's kaniko setup never snapshots: always ignored, whatever the caller passes.
 */
export const ENGINE_IGNORED_PATHS: readonly string[] = [
  '/proc', '/sys', '/dev', '/etc/resolv.conf', '/etc/hosts', '/etc/mtab', '/var/run', '/kaniko',
];

/** The lifecycle's default app, layers and platform directories. */
export const LIFECYCLE_DEFAULT_DIRS = { appDir: '/workspace', layersDir: '/layers', platformDir: '/platform' } as const;

/** A predicate true for each listed path (absolute or relative) and everything beneath it. */
export function ignorePaths(paths: Iterable<string>): IgnorePredicate {
  const set = new Set<string>();
  for (const p of paths) {
    const r = p.replace(/^\/+|\/+$/g, '').replace(/\/{2,}/g, '/');
    if (r !== '') set.add(r);
  }
  return (rel) => {
    if (set.size === 0) return false;
    if (set.has(rel)) return true;
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) {
      if (set.has(rel.slice(0, i))) return true;
    }
    return false;
  };
}

export function anyIgnored(...preds: IgnorePredicate[]): IgnorePredicate {
  return (rel) => preds.some((f) => f(rel));
}

/**
 * The default ignore predicate: the lifecycle's app, layers and platform directories (defaults
 * /workspace, /layers, /platform) plus the engine's own paths and any `extra` paths.
 */
export function defaultIgnore(dirs: { appDir?: string; layersDir?: string; platformDir?: string; extra?: readonly string[] } = {}): IgnorePredicate {
  return ignorePaths([
    dirs.appDir ?? LIFECYCLE_DEFAULT_DIRS.appDir,
    dirs.layersDir ?? LIFECYCLE_DEFAULT_DIRS.layersDir,
    dirs.platformDir ?? LIFECYCLE_DEFAULT_DIRS.platformDir,
    ...ENGINE_IGNORED_PATHS,
    ...(dirs.extra ?? []),
  ]);
}

/** The engine's paths are ignored whatever predicate the caller gives. */
export const engineIgnored: IgnorePredicate = ignorePaths(ENGINE_IGNORED_PATHS);
