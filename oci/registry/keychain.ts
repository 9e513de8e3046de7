import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OciError } from '../errors.js';
import { DOCKER_HUB, DOCKER_HUB_HOST } from './reference.js';

/** Structural logger (the same shape as src/log.ts; oci/ cannot import src/). */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/**
 * Credentials for one registry. `basic` is a user and password (sent as Basic, or exchanged for a
 * Bearer token); `identityToken` is an OAuth2 refresh token exchanged at the token realm;
 * `registryToken` is a ready Bearer token sent as is.
 */
export type Credential =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'identityToken'; username?: string; token: string }
  | { kind: 'registryToken'; token: string };

/** Resolves credentials for a registry name (as written in references: `docker.io`, `host:port`). */
export interface Keychain {
  resolve(registry: string): Promise<Credential | null>;
}

export const anonymousKeychain: Keychain = { resolve: async () => null };

/**
 * Names under which a registry may be keyed: Docker Hub has several spellings, and docker
 * config.json keys may carry a scheme or a path (`https://index.docker.io/v1/`).
 */
function aliases(registry: string): string[] {
  if (registry === DOCKER_HUB || registry === 'index.docker.io' || registry === DOCKER_HUB_HOST) {
    return [DOCKER_HUB, 'index.docker.io', DOCKER_HUB_HOST];
  }
  return [registry];
}

/** `https://host:port/v1/` → `host:port`. */
export function normaliseRegistryKey(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  return k.toLowerCase();
}

function lookup<T>(map: ReadonlyMap<string, T>, registry: string): T | undefined {
  for (const a of aliases(registry.toLowerCase())) {
    const v = map.get(a);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** A keychain over a fixed map registry → credential (keys normalised like docker config keys). */
export function staticKeychain(entries: Record<string, Credential>): Keychain {
  const map = new Map(Object.entries(entries).map(([k, v]) => [normaliseRegistryKey(k), v]));
  return { resolve: async (registry) => lookup(map, registry) ?? null };
}

/** The first keychain that has credentials wins (the lifecycle: CNB_REGISTRY_AUTH before docker config). */
export function multiKeychain(...chains: Keychain[]): Keychain {
  return {
    async resolve(registry) {
      for (const c of chains) {
        const cred = await c.resolve(registry);
        if (cred) return cred;
      }
      return null;
    },
  };
}

function decodeUserPass(b64: string, where: string): { username: string; password: string } {
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  // Never echo the value: it is the credential.
  if (colon < 0) throw new OciError('INVALID_JSON', `${where}: auth is not base64 of "user:password"`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * Parses the lifecycle's `CNB_REGISTRY_AUTH`: a JSON object registry → Authorization header value,
 * `Basic <base64 user:pass>` or `Bearer <token>`.
 */
export function parseRegistryAuthEnv(json: string): Keychain {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    throw new OciError('INVALID_JSON', 'CNB_REGISTRY_AUTH is not valid JSON', {}, { cause: new Error((e as Error).name) });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new OciError('INVALID_JSON', 'CNB_REGISTRY_AUTH must be a JSON object of registry → Authorization header');
  }
  const creds: Record<string, Credential> = {};
  for (const [registry, header] of Object.entries(v as Record<string, unknown>)) {
    const where = `CNB_REGISTRY_AUTH[${JSON.stringify(registry)}]`;
    if (typeof header !== 'string') throw new OciError('INVALID_JSON', `${where} must be a string`);
    const m = /^(\w+)\s+(\S+)\s*$/.exec(header);
    const scheme = m?.[1]?.toLowerCase();
    if (m && scheme === 'basic') creds[registry] = { kind: 'basic', ...decodeUserPass(m[2]!, where) };
    else if (m && scheme === 'bearer') creds[registry] = { kind: 'registryToken', token: m[2]! };
    else throw new OciError('INVALID_JSON', `${where}: expected "Basic <base64>" or "Bearer <token>"`);
  }
  return staticKeychain(creds);
}

interface DockerAuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

/** Credentials from a docker `config.json` (`auths` only; credential helpers are not run). */
export function parseDockerConfig(json: string, path: string, log?: Logger): Keychain {
  let v: { auths?: Record<string, DockerAuthEntry>; credsStore?: string; credHelpers?: Record<string, string> };
  try {
    v = JSON.parse(json) as typeof v;
  } catch {
    throw new OciError('INVALID_JSON', `${path}: not valid JSON`, { path });
  }
  if (v.credsStore || (v.credHelpers && Object.keys(v.credHelpers).length > 0)) {
    log?.debug(`${path}: credsStore/credHelpers are not supported; only "auths" entries are used`);
  }
  const creds: Record<string, Credential> = {};
  for (const [key, e] of Object.entries(v.auths ?? {})) {
    if (typeof e !== 'object' || e === null) continue;
    const where = `${path}: auths[${JSON.stringify(key)}]`;
    const up = e.auth ? decodeUserPass(e.auth, where) : e.username !== undefined ? { username: e.username, password: e.password ?? '' } : undefined;
    if (e.registrytoken) creds[key] = { kind: 'registryToken', token: e.registrytoken };
    else if (e.identitytoken) creds[key] = { kind: 'identityToken', token: e.identitytoken, ...(up ? { username: up.username } : {}) };
    else if (up && (up.username !== '' || up.password !== '')) creds[key] = { kind: 'basic', ...up };
  }
  return staticKeychain(creds);
}

export interface KeychainInputs {
  /** The environment, passed in (the library never reads process.env): CNB_REGISTRY_AUTH, DOCKER_CONFIG, HOME. */
  env?: Readonly<Record<string, string | undefined>>;
  /** An explicit docker config.json path; overrides DOCKER_CONFIG and HOME. */
  dockerConfigPath?: string;
  log?: Logger;
}

/**
 * The lifecycle's keychain: CNB_REGISTRY_AUTH first, then docker config.json from
 * `dockerConfigPath`, `$DOCKER_CONFIG/config.json` or `$HOME/.docker/config.json`. The config file
 * is read once, on first use; a missing file means no credentials.
 */
export function keychainFromInputs(inputs: KeychainInputs): Keychain {
  const env = inputs.env ?? {};
  const chains: Keychain[] = [];
  const authEnv = env.CNB_REGISTRY_AUTH;
  if (authEnv !== undefined && authEnv.trim() !== '') chains.push(parseRegistryAuthEnv(authEnv));

  const configPath = inputs.dockerConfigPath
    ?? (env.DOCKER_CONFIG ? join(env.DOCKER_CONFIG, 'config.json') : env.HOME ? join(env.HOME, '.docker', 'config.json') : undefined);
  if (configPath !== undefined) {
    let loaded: Promise<Keychain> | undefined;
    const load = async (): Promise<Keychain> => {
      let text: string;
      try {
        text = await readFile(configPath, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          inputs.log?.debug(`no docker config at ${configPath}`);
          return anonymousKeychain;
        }
        throw new OciError('IO', `reading docker config ${configPath}`, { path: configPath }, { cause: e });
      }
      return parseDockerConfig(text, configPath, inputs.log);
    };
    chains.push({ resolve: async (registry) => (await (loaded ??= load())).resolve(registry) });
  }
  return multiKeychain(...chains);
}
