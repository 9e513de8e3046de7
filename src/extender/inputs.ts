import { isAbsolute, resolve } from 'node:path';
import { apiAtLeast, type ApiVersion } from '../cnb/index.js';

// The extender's inputs (contract.md §1.2; lifecycle platform/lifecycle_inputs.go, defaults.go):
// each is a flag value if given, else its CNB_* environment variable, else its default. Defaults
// under `<layers>` are placeholders resolved once the final layers directory is known.

export type Env = Readonly<Record<string, string | undefined>>;

export const PLACEHOLDER_LAYERS = '<layers>';

export interface ExtenderInputs {
  platformApi: ApiVersion;
  /** `build` or `run` (validated by the caller). */
  kind: string;
  analyzedPath: string;
  appDir: string;
  buildConfigDir: string;
  buildpacksDir: string;
  execEnv: string;
  extendedDir: string;
  generatedDir: string;
  groupPath: string;
  kanikoDir: string;
  /** Layer cache time-to-live, in nanoseconds (Go duration semantics). */
  kanikoCacheTtlNs: bigint;
  layersDir: string;
  logLevel: string;
  noColor: boolean;
  planPath: string;
  platformDir: string;
  /** Skip running `/cnb/lifecycle/builder` after a build-image extension (ours; not in the lifecycle). */
  skipBuilder: boolean;
  uid: number;
  gid: number;
}

export const DEFAULTS = {
  appDir: '/workspace',
  buildConfigDir: '/cnb/build-config',
  buildpacksDir: '/cnb/buildpacks',
  execEnv: 'production',
  kanikoDir: '/kaniko',
  kanikoCacheTtlNs: 336n * 3_600_000_000_000n,
  layersDir: '/layers',
  logLevel: 'info',
  platformDir: '/platform',
  kind: 'build',
} as const;

/** Environment variable names (ours: CNB_KANIKO_DIR, CNB_SKIP_BUILDER). */
export const ENV = {
  analyzedPath: 'CNB_ANALYZED_PATH',
  appDir: 'CNB_APP_DIR',
  buildConfigDir: 'CNB_BUILD_CONFIG_DIR',
  buildpacksDir: 'CNB_BUILDPACKS_DIR',
  execEnv: 'CNB_EXEC_ENV',
  extendedDir: 'CNB_EXTENDED_DIR',
  generatedDir: 'CNB_GENERATED_DIR',
  gid: 'CNB_GROUP_ID',
  groupPath: 'CNB_GROUP_PATH',
  kanikoCacheTtl: 'CNB_KANIKO_CACHE_TTL',
  kanikoDir: 'CNB_KANIKO_DIR',
  kind: 'CNB_EXTEND_KIND',
  layersDir: 'CNB_LAYERS_DIR',
  logLevel: 'CNB_LOG_LEVEL',
  noColor: 'CNB_NO_COLOR',
  planPath: 'CNB_PLAN_PATH',
  platformDir: 'CNB_PLATFORM_DIR',
  skipBuilder: 'CNB_SKIP_BUILDER',
  uid: 'CNB_USER_ID',
} as const;

/**
 * Inputs from the environment and defaults, before flags are applied (flags then overwrite
 * fields). `parseDuration` is Go's time.ParseDuration in nanoseconds; an invalid
 * CNB_KANIKO_CACHE_TTL silently falls back to the default, as in the lifecycle.
 */
export function inputsFromEnv(env: Env, platformApi: ApiVersion, parseDuration: (s: string) => bigint): ExtenderInputs {
  const str = (k: string, def: string): string => {
    const v = env[k];
    return v !== undefined && v !== '' ? v : def;
  };
  const under = (file: string) => `${PLACEHOLDER_LAYERS}/${file}`;
  let ttl: bigint = DEFAULTS.kanikoCacheTtlNs;
  const ttlEnv = env[ENV.kanikoCacheTtl];
  if (ttlEnv) {
    try {
      ttl = parseDuration(ttlEnv);
    } catch {
      ttl = DEFAULTS.kanikoCacheTtlNs;
    }
  }
  return {
    platformApi,
    // The lifecycle reads CNB_EXTEND_KIND on every Platform API (a QUIRK); run-image extension
    // only exists from 0.12, so below it we keep `build` (the CLI warns when the variable is set).
    kind: apiAtLeast(platformApi, '0.12') ? str(ENV.kind, DEFAULTS.kind) : DEFAULTS.kind,
    analyzedPath: str(ENV.analyzedPath, under('analyzed.toml')),
    appDir: str(ENV.appDir, DEFAULTS.appDir),
    buildConfigDir: str(ENV.buildConfigDir, DEFAULTS.buildConfigDir),
    buildpacksDir: str(ENV.buildpacksDir, DEFAULTS.buildpacksDir),
    execEnv: str(ENV.execEnv, DEFAULTS.execEnv),
    extendedDir: str(ENV.extendedDir, under('extended')),
    generatedDir: str(ENV.generatedDir, under('generated')),
    groupPath: str(ENV.groupPath, under('group.toml')),
    kanikoDir: str(ENV.kanikoDir, DEFAULTS.kanikoDir),
    kanikoCacheTtlNs: ttl,
    layersDir: str(ENV.layersDir, DEFAULTS.layersDir),
    logLevel: str(ENV.logLevel, DEFAULTS.logLevel),
    noColor: goBoolEnv(env[ENV.noColor]),
    planPath: str(ENV.planPath, under('plan.toml')),
    platformDir: str(ENV.platformDir, DEFAULTS.platformDir),
    skipBuilder: goBoolEnv(env[ENV.skipBuilder]),
    uid: goAtoiEnv(env[ENV.uid]),
    gid: goAtoiEnv(env[ENV.gid]),
  };
}

/**
 * Substitutes `<layers>` (first occurrence, as the lifecycle does) in the paths that default under
 * it, then makes every path absolute against `cwd`. The lifecycle only absolutises directories;
 * we absolutise files too, which resolves to the same place but is what a chroot bind needs.
 */
export function resolveInputPaths(i: ExtenderInputs, cwd: string): ExtenderInputs {
  const sub = (p: string) => p.replace(PLACEHOLDER_LAYERS, i.layersDir);
  const abs = (p: string) => (isAbsolute(p) ? resolve(p) : resolve(cwd, p));
  return {
    ...i,
    analyzedPath: abs(sub(i.analyzedPath)),
    extendedDir: abs(sub(i.extendedDir)),
    generatedDir: abs(sub(i.generatedDir)),
    groupPath: abs(sub(i.groupPath)),
    planPath: abs(sub(i.planPath)),
    appDir: abs(i.appDir),
    buildConfigDir: abs(i.buildConfigDir),
    buildpacksDir: abs(i.buildpacksDir),
    kanikoDir: abs(i.kanikoDir),
    layersDir: abs(i.layersDir),
    platformDir: abs(i.platformDir),
  };
}

/** strconv.ParseBool on an env value; anything invalid (or unset) is false. */
export function goBoolEnv(v: string | undefined): boolean {
  return v !== undefined && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v);
}

/** strconv.Atoi on an env value; anything invalid (or unset) is 0. */
export function goAtoiEnv(v: string | undefined): number {
  if (v === undefined || !/^[+-]?\d+$/.test(v)) return 0;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : 0;
}
