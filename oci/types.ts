import type { Digest } from './digest.js';

/**
 * Spec types. Every object carries an index signature so that fields we do not model survive a
 * parse → mutate → serialise round trip (the image-spec requires unknown fields to be ignored, not dropped).
 */
export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  [k: string]: unknown;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  [k: string]: unknown;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

/** The `config` object inside an image config (Docker's field names, as the spec uses them). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: Record<string, unknown>;
  OnBuild?: string[] | null;
  Shell?: string[];
  [k: string]: unknown;
}

export interface History {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
  [k: string]: unknown;
}

export interface ConfigFile {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[]; [k: string]: unknown };
  history?: History[];
  [k: string]: unknown;
}

/** Well-known annotation keys. */
export const Annotation = {
  RefName: 'org.opencontainers.image.ref.name',
} as const;
