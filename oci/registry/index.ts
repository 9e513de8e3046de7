// Registry client: references, keychains, the distribution API (pull, push, access checks).
export { Reference, toReference, DOCKER_HUB, DOCKER_HUB_HOST } from './reference.js';
export { RegistryError, isRegistryError, type Diagnostic, type RegistryErrorCode } from './errors.js';
export {
  anonymousKeychain, staticKeychain, multiKeychain, keychainFromInputs, parseRegistryAuthEnv, parseDockerConfig, normaliseRegistryKey,
  type Credential, type Keychain, type KeychainInputs, type Logger as RegistryLogger,
} from './keychain.js';
export { parseChallenges, type Challenge } from './challenge.js';
export { parsePlatform, selectManifest } from './platform.js';
export type { RetryOptions } from './retry.js';
export { RemoteImage, RemoteLayer } from './remote-image.js';
export type { BlobSource, PutBlobOptions, PutBlobResult } from './upload.js';
export { Registry, MANIFEST_ACCEPT, type RegistryOptions, type RemoteManifest, type CallOptions } from './registry.js';
export type { PullOptions, PullProgress, PullResult } from './pull.js';
