import { isDigest, type Digest } from '../digest.js';
import { OciError } from '../errors.js';

/** Registry name used for Docker Hub in references and keychains. */
export const DOCKER_HUB = 'docker.io';
/** The host actually contacted for Docker Hub. */
export const DOCKER_HUB_HOST = 'registry-1.docker.io';
const DEFAULT_TAG = 'latest';

// The grammar of distribution/reference (docker/distribution reference/regexp.go), written out.
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const MAX_NAME = 255;

/**
 * An image reference `registry/repository[:tag][@digest]`, normalised the way Docker does it:
 * no registry means Docker Hub (`docker.io`), and single-component Hub names get `library/`.
 * `registry` is the name as written (keychains key on it); `host` is what is contacted.
 */
export class Reference {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;

  private constructor(registry: string, repository: string, tag: string | undefined, digest: Digest | undefined) {
    this.registry = registry;
    this.repository = repository;
    this.tag = tag;
    this.digest = digest;
  }

  /**
   * Parses a reference; without tag or digest the tag is `latest` (unless `defaultTag: false`).
   * Throws OciError INVALID_REFERENCE naming the input.
   */
  static parse(input: string, opts: { defaultTag?: boolean } = {}): Reference {
    const bad = (why: string): never => {
      throw new OciError('INVALID_REFERENCE', `invalid image reference ${JSON.stringify(input)}: ${why}`, { reference: input });
    };
    if (input.length === 0) bad('empty');
    if (input !== input.trim() || /\s/.test(input)) bad('contains whitespace');

    let rest = input;
    let digest: Digest | undefined;
    const at = rest.indexOf('@');
    if (at >= 0) {
      const d = rest.slice(at + 1);
      rest = rest.slice(0, at);
      if (!isDigest(d)) bad(`digest ${JSON.stringify(d)} is not sha256:<64 lowercase hex digits>`);
      digest = d as Digest;
    }

    let tag: string | undefined;
    const lastSlash = rest.lastIndexOf('/');
    const colon = rest.indexOf(':', lastSlash + 1);
    if (colon >= 0) {
      tag = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
      if (!TAG_RE.test(tag)) bad(`tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
    }

    let registry = DOCKER_HUB;
    let path = rest;
    const slash = rest.indexOf('/');
    if (slash >= 0) {
      const first = rest.slice(0, slash);
      // Docker's rule: the first component is a registry when it looks like a host name.
      if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
        if (!DOMAIN_RE.test(first)) bad(`registry ${JSON.stringify(first)} is not a valid host[:port]`);
        registry = first;
        path = rest.slice(slash + 1);
      }
    }
    if (registry === 'index.docker.io') registry = DOCKER_HUB;
    if (path.length === 0) bad('missing repository name');
    for (const c of path.split('/')) {
      if (!PATH_COMPONENT_RE.test(c)) bad(`repository component ${JSON.stringify(c)} must be lowercase alphanumerics separated by '.', '_', '__' or '-'`);
    }
    if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
    if (`${registry}/${path}`.length > MAX_NAME) bad(`name longer than ${MAX_NAME} characters`);
    if (tag === undefined && digest === undefined && opts.defaultTag !== false) tag = DEFAULT_TAG;
    return new Reference(registry, path, tag, digest);
  }

  /** Builds a reference from parts (validated by parsing the formatted result). */
  static of(parts: { registry: string; repository: string; tag?: string | undefined; digest?: Digest | undefined }): Reference {
    const base = `${parts.registry}/${parts.repository}`;
    return Reference.parse(`${base}${parts.tag ? `:${parts.tag}` : ''}${parts.digest ? `@${parts.digest}` : ''}`, { defaultTag: false });
  }

  /** The host:port contacted over HTTP (Docker Hub's API lives on registry-1.docker.io). */
  get host(): string {
    return this.registry === DOCKER_HUB ? DOCKER_HUB_HOST : this.registry;
  }

  /** `registry/repository`, without tag or digest. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** What goes after `/manifests/`: the digest when there is one (it pins content), else the tag. */
  get identifier(): string {
    return this.digest ?? this.tag ?? DEFAULT_TAG;
  }

  /** The same repository at a digest (the tag is dropped: `name@digest`, as the lifecycle records it). */
  withDigest(d: Digest): Reference {
    return new Reference(this.registry, this.repository, undefined, d);
  }

  withTag(tag: string): Reference {
    return Reference.of({ registry: this.registry, repository: this.repository, tag });
  }

  /** Another repository on the same registry. */
  inRepository(repository: string): Reference {
    return Reference.of({ registry: this.registry, repository, tag: this.tag, digest: this.digest });
  }

  toString(): string {
    return `${this.name}${this.tag !== undefined ? `:${this.tag}` : ''}${this.digest !== undefined ? `@${this.digest}` : ''}`;
  }
}

/** `Reference.parse` for callers holding either form. */
export function toReference(r: Reference | string): Reference {
  return typeof r === 'string' ? Reference.parse(r) : r;
}
