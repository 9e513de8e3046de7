// src/extender: the lifecycle's extender phase (contract.md §1–§5) as a library.
export * from './errors.js';
export { DEFAULTS as EXTENDER_DEFAULTS, ENV as EXTENDER_ENV, inputsFromEnv, resolveInputPaths, PLACEHOLDER_LAYERS, type ExtenderInputs } from './inputs.js';
export { findDockerfiles, type DiscoveryOptions, type DockerfileRef, type ExtendKind } from './dockerfiles.js';
export { buildArgs, userFrom, type BuildArgInputs } from './build-args.js';
export { ExtensionPolicy, extensionLayerName, isRebasable, isRootUser, normalizedHistory, REBASABLE_LABEL, ZERO_TIME } from './policy.js';
export { digestOfReference, openBaseImage, type BaseImage } from './base-image.js';
export { newLayerIndexes, writeExtendedImage, type WrittenImage } from './output.js';
export { DirStepCache, type DirStepCacheOptions, type StepCache } from './layer-cache.js';
export { stepCacheKey, StepKeyer, type StepKeyInput } from './cache-key.js';
export type { ApplyContext, ApplyResult, DockerfileEngine, LoadedDockerfile as LoadedExtensionDockerfile, StepReport } from './engine.js';
export { formatStepLine, formatSummary, totals, type Totals } from './summary.js';
export { parseImageEnv } from './env.js';
export { extend, verifyExtensionApi, type ExtendDeps, type ExtendResult } from './extend.js';
export { builderArgv, builderBinds, builderEnv, runBuilder, BUILDER_PATH, type Bind, type BuilderDeps, type BuilderExecutor, type RootfsHandle } from './builder.js';
export { ensureOwner } from './ensure-owner.js';
export { lookupUid, type PasswdEntry } from './passwd.js';
