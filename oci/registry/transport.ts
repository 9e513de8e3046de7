import type { Readable } from 'node:stream';
import type { Agent, Dispatcher } from 'undici';
import { OciError } from '../errors.js';
import { parseChallenges, pickChallenge, type Challenge } from './challenge.js';
import { codeForStatus, describeDiagnostics, isTemporaryStatus, parseDiagnostics, redactUrl, RegistryError } from './errors.js';
import type { Credential, Keychain, Logger } from './keychain.js';
import { DOCKER_HUB, DOCKER_HUB_HOST } from './reference.js';
import { isRetriable, parseRetryAfter } from './retry.js';
import { undici } from './undici.js';

export type Headers = Record<string, string>;
export type ResponseBody = Dispatcher.ResponseData['body'];

export interface Response {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  body: ResponseBody;
  /** The URL that answered (after redirects). */
  url: URL;
}

export interface SendRequest {
  /** Registry name as in references (`docker.io`, `127.0.0.1:5000`). */
  registry: string;
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** `/v2/...` (resolved against the registry) or an absolute URL (an upload Location). */
  url: string | URL;
  headers?: Headers;
  /** A Buffer, or a factory so the body can be sent again after a 401 or a 307. */
  body?: Buffer | (() => Promise<Readable>);
  /** Token scopes, e.g. `repository:library/busybox:pull`. */
  scopes: string[];
  signal?: AbortSignal | undefined;
  /** Response body buffering (undici's default is 64 KiB; blobs stream faster with more). */
  highWaterMark?: number;
}

interface HostState {
  base: URL;
  challenge: Challenge | undefined;
  tokens: Map<string, { token: string; scopes: Set<string>; expiresAt: number }>;
  pending: Map<string, Promise<string>>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
const ERROR_BODY_CAP = 64 * 1024;
const TOKEN_BODY_CAP = 1024 * 1024;

/** `repository:a/b:pull,push` → `repository:a/b:pull`, `repository:a/b:push` (so a push token serves pulls). */
function scopeAtoms(scopes: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const s of scopes) {
    const i = s.lastIndexOf(':');
    if (i < 0) {
      out.add(s);
      continue;
    }
    for (const a of s.slice(i + 1).split(',')) if (a) out.add(`${s.slice(0, i)}:${a}`);
  }
  return out;
}

export function repoScope(repository: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repository}:${actions}`;
}

/** Reads a body into memory, failing with TOO_LARGE past `cap` bytes. */
export async function readCapped(body: Readable, cap: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > cap) {
      body.destroy();
      throw new OciError('TOO_LARGE', `${what}: larger than ${cap} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

function header(h: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * One registry conversation per host: the `/v2/` ping that learns the auth scheme, Basic or Bearer
 * credentials (tokens cached per scope set), one re-authentication on 401, and redirects followed by
 * hand so that Authorization never leaves the registry's origin. Retries are the caller's business.
 */
export class Transport {
  private readonly hosts = new Map<string, Promise<HostState>>();
  private laxAgent: Agent | undefined;

  constructor(
    private readonly opts: {
      keychain: Keychain;
      insecure: ReadonlySet<string>;
      dispatcher: Dispatcher;
      userAgent: string;
      log?: Logger | undefined;
    },
  ) {}

  hostOf(registry: string): string {
    return registry === DOCKER_HUB ? DOCKER_HUB_HOST : registry;
  }

  isInsecure(registryOrHost: string): boolean {
    return this.opts.insecure.has(registryOrHost);
  }

  async close(): Promise<void> {
    await this.laxAgent?.close();
  }

  /** The dispatcher for a URL: certificate checks are skipped only for hosts named insecure. */
  private dispatcherFor(url: URL): Dispatcher {
    if (url.protocol === 'https:' && this.isInsecure(url.host)) {
      return (this.laxAgent ??= new (undici().Agent)({ connect: { rejectUnauthorized: false } }));
    }
    return this.opts.dispatcher;
  }

  private async dispatch(url: URL, method: string, headers: Headers, body: Buffer | Readable | undefined, signal?: AbortSignal, highWaterMark?: number): Promise<Dispatcher.ResponseData> {
    return this.dispatcherFor(url).request({
      ...(highWaterMark ? { highWaterMark } : {}),
      origin: url.origin,
      path: url.pathname + url.search,
      method: method as Dispatcher.HttpMethod,
      headers: { 'user-agent': this.opts.userAgent, ...headers },
      body: body ?? null,
      signal: signal ?? null,
    });
  }

  /** Sends a request with auth and redirects; non-2xx responses are returned, not thrown. */
  async send(req: SendRequest): Promise<Response> {
    const st = await this.state(req.registry, req.signal);
    let url = typeof req.url === 'string' ? new URL(req.url, st.base) : req.url;
    let method: string = req.method;
    let bodySource = req.body;
    let scopes = req.scopes;
    let reauthenticated = false;
    for (let hops = 0; ; ) {
      const sameOrigin = url.origin === st.base.origin;
      const auth = sameOrigin ? await this.authorization(req.registry, st, scopes, req.signal) : undefined;
      const body = typeof bodySource === 'function' ? await bodySource() : bodySource;
      const res = await this.dispatch(url, method, { ...req.headers, ...(auth ? { authorization: auth } : {}) }, body, req.signal, req.highWaterMark);
      if (res.statusCode === 401 && sameOrigin && !reauthenticated) {
        const ch = pickChallenge(parseChallenges(res.headers['www-authenticate']));
        if (ch) {
          await res.body.dump();
          reauthenticated = true;
          st.challenge = ch;
          // The challenge may ask for more than we asked for (insufficient_scope): add it, drop the old token.
          const extra = ch.params.scope?.split(' ').filter(Boolean) ?? [];
          scopes = [...new Set([...scopes, ...extra])];
          st.tokens.clear();
          continue;
        }
      }
      const location = header(res.headers, 'location');
      if (REDIRECTS.has(res.statusCode) && location !== undefined && method !== 'PUT' && method !== 'POST' && method !== 'PATCH') {
        await res.body.dump();
        if (++hops > MAX_REDIRECTS) {
          throw new RegistryError('REGISTRY', `${method} ${redactUrl(url)}: more than ${MAX_REDIRECTS} redirects`, { status: res.statusCode });
        }
        const next = new URL(location, url);
        if (next.origin !== st.base.origin) this.opts.log?.debug(`following redirect to ${next.host} (credentials not forwarded)`);
        url = next;
        if (res.statusCode === 303) {
          method = 'GET';
          bodySource = undefined;
        }
        continue;
      }
      return { status: res.statusCode, headers: res.headers, body: res.body, url };
    }
  }

  /** Turns an unexpected response into a RegistryError (reading a capped error body). */
  async fail(res: Response, method: string, what: string, extra: { reference?: string; digest?: string } = {}): Promise<never> {
    let diags: ReturnType<typeof parseDiagnostics> = [];
    if (method !== 'HEAD') {
      try {
        diags = parseDiagnostics((await readCapped(res.body, ERROR_BODY_CAP, 'error body')).toString('utf8'));
      } catch {
        res.body.destroy();
      }
    } else {
      await res.body.dump().catch(() => {});
    }
    const d = describeDiagnostics(diags);
    const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
    throw new RegistryError(codeForStatus(res.status), `${what}: ${method} ${redactUrl(res.url)}: HTTP ${res.status}${d ? ` (${d})` : ''}`, {
      status: res.status,
      errors: diags,
      temporary: isTemporaryStatus(res.status),
      ...extra,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }

  // --- per-host state: ping ---

  private state(registry: string, signal?: AbortSignal): Promise<HostState> {
    let p = this.hosts.get(registry);
    if (!p) {
      p = this.ping(registry, signal);
      this.hosts.set(registry, p);
      // A failed ping is not cached: the next request pings again.
      p.catch(() => this.hosts.delete(registry));
    }
    return p;
  }

  private async ping(registry: string, signal?: AbortSignal): Promise<HostState> {
    const host = this.hostOf(registry);
    const schemes = this.isInsecure(registry) || this.isInsecure(host) ? ['https:', 'http:'] : ['https:'];
    let lastErr: unknown;
    for (const scheme of schemes) {
      const base = new URL(`${scheme}//${host}/`);
      let res: Dispatcher.ResponseData;
      try {
        res = await this.dispatch(new URL('/v2/', base), 'GET', {}, undefined, signal);
      } catch (e) {
        signal?.throwIfAborted();
        lastErr = e;
        continue; // e.g. TLS against a plain-HTTP insecure registry: try the next scheme
      }
      await res.body.dump().catch(() => {});
      const challenge = res.statusCode === 401 ? pickChallenge(parseChallenges(res.headers['www-authenticate'])) : undefined;
      if (res.statusCode >= 500 || res.statusCode === 429) {
        throw new RegistryError('REGISTRY', `ping ${redactUrl(new URL('/v2/', base))}: HTTP ${res.statusCode}`, { status: res.statusCode, temporary: true });
      }
      this.opts.log?.debug(`registry ${host}: ${scheme.slice(0, -1)}, auth ${challenge?.scheme ?? 'none'}`);
      return { base, challenge, tokens: new Map(), pending: new Map() };
    }
    const why = (lastErr as { code?: string; message?: string } | undefined)?.code ?? (lastErr as Error | undefined)?.message ?? 'unknown error';
    throw new RegistryError('REGISTRY', `ping ${schemes.map((s) => `${s}//${host}/v2/`).join(', ')}: ${why}`, { status: 0, temporary: isRetriable(lastErr) }, { cause: lastErr });
  }

  // --- auth ---

  private async authorization(registry: string, st: HostState, scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const ch = st.challenge;
    if (!ch) return undefined;
    const cred = await this.opts.keychain.resolve(registry);
    if (ch.scheme === 'basic') {
      if (cred?.kind === 'basic') return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
      if (cred?.kind === 'registryToken') return `Bearer ${cred.token}`;
      return undefined;
    }
    if (ch.scheme !== 'bearer') return undefined;
    if (cred?.kind === 'registryToken') return `Bearer ${cred.token}`;
    const want = [...new Set(scopes)].sort();
    const atoms = [...scopeAtoms(want)];
    const now = Date.now();
    for (const t of st.tokens.values()) {
      if (t.expiresAt > now && atoms.every((s) => t.scopes.has(s))) return `Bearer ${t.token}`;
    }
    const key = want.join(' ');
    let p = st.pending.get(key);
    if (!p) {
      p = this.fetchToken(registry, st, ch, cred, want, signal).finally(() => st.pending.delete(key));
      st.pending.set(key, p);
    }
    return `Bearer ${await p}`;
  }

  /** The token dance (distribution token spec): GET with Basic, POST for an OAuth2 refresh token, or anonymous GET. */
  private async fetchToken(registry: string, st: HostState, ch: Challenge, cred: Credential | null, scopes: string[], signal?: AbortSignal): Promise<string> {
    const realmText = ch.params.realm;
    if (!realmText) throw new RegistryError('UNAUTHORIZED', `registry ${registry}: Bearer challenge without a realm`, { status: 401 });
    let realm: URL;
    try {
      realm = new URL(realmText);
    } catch {
      throw new RegistryError('UNAUTHORIZED', `registry ${registry}: invalid token realm`, { status: 401 });
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new RegistryError('UNAUTHORIZED', `registry ${registry}: token realm must be http(s)`, { status: 401 });
    }
    if (cred && realm.protocol === 'http:' && !this.isInsecure(realm.host) && st.base.protocol !== 'http:') {
      throw new RegistryError('UNAUTHORIZED', `registry ${registry}: refusing to send credentials to plain-HTTP token realm ${redactUrl(realm)}`, { status: 0 });
    }
    const service = ch.params.service;
    let res: Dispatcher.ResponseData;
    const what = `token for ${scopes.join(' ') || registry} from ${redactUrl(realm)}`;
    this.opts.log?.debug(`fetching ${what} (${cred ? 'with credentials' : 'anonymous'})`);
    if (cred?.kind === 'identityToken') {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.token, client_id: 'cnb-extender' });
      if (service) form.set('service', service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      res = await this.dispatch(realm, 'POST', { 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from(form.toString()), signal);
    } else {
      const u = new URL(realm);
      if (service) u.searchParams.set('service', service);
      for (const s of scopes) u.searchParams.append('scope', s);
      const headers: Headers = {};
      if (cred?.kind === 'basic') {
        u.searchParams.set('account', cred.username);
        headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
      }
      res = await this.dispatch(u, 'GET', headers, undefined, signal);
    }
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => {});
      throw new RegistryError(codeForStatus(res.statusCode) === 'NOT_FOUND' ? 'REGISTRY' : codeForStatus(res.statusCode), `${what}: HTTP ${res.statusCode}`, {
        status: res.statusCode,
        temporary: isTemporaryStatus(res.statusCode),
      });
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse((await readCapped(res.body, TOKEN_BODY_CAP, what)).toString('utf8')) as typeof parsed;
    } catch (e) {
      if (e instanceof OciError) throw e;
      throw new RegistryError('REGISTRY', `${what}: response is not JSON`, { status: res.statusCode });
    }
    const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : typeof parsed.access_token === 'string' ? parsed.access_token : '';
    if (!token) throw new RegistryError('REGISTRY', `${what}: response has no token`, { status: res.statusCode });
    const expiresIn = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    st.tokens.set(scopes.join(' '), { token, scopes: scopeAtoms(scopes), expiresAt: Date.now() + Math.max(expiresIn - 10, 1) * 1000 });
    return token;
  }
}
