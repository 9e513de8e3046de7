// An in-process registry (node:http) for fault injection only: the real protocol tests run against
// Debian's docker-registry (test/helpers/registry.ts). It speaks enough of the distribution API for
// a client to pull and push, and lets a test script what the real one cannot be made to do: the
// Bearer token dance with scopes, 5xx/429, connection resets and truncation mid-blob, wrong
// digests, redirects to another host.
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface RecordedRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingMessage['headers'];
  /** The server that saw it: 'registry', 'token' or 'blobhost'. */
  server: string;
}

/** A scripted misbehaviour, applied to the next `times` requests it matches. */
export type Fault =
  | { status: number; headers?: Record<string, string>; body?: string }
  /** Send headers with the full Content-Length, then `after` bytes, then RST the connection. */
  | { resetAfter: number }
  /** Send the full Content-Length, then `after` bytes, then close cleanly (a length mismatch). */
  | { truncateAfter: number }
  /** No Content-Length, `after` bytes, clean close: only the descriptor's size reveals it. */
  | { closeDelimitedAfter: number }
  /** Serve these bytes instead of the stored content (keeps the requested digest header). */
  | { serve: Buffer }
  /** Answer a Range request with 200 and the whole blob (as a server without Range support does). */
  | { ignoreRange: true }
  /** Answer `Range: bytes=N-M` with 206 from N to the blob's end, ignoring M (more than asked for). */
  | { ignoreRangeEnd: true };

interface FaultRule {
  match: (method: string, path: string, range: string | undefined) => boolean;
  times: number;
  fault: Fault;
}

export interface FakeRegistryOptions {
  /** 'bearer': token server at /token; 'basic': user/pass on every request; default none. */
  auth?:
    | { kind: 'bearer'; users?: Record<string, string>; anonymousPull?: boolean; identityTokens?: Record<string, string>; tokenTtl?: number }
    | { kind: 'basic'; users: Record<string, string> };
  /** Answer `Range: bytes=N-` with 206 (default true). */
  ranges?: boolean;
  /** Redirect blob GETs to this base URL (another host), as registries backed by object storage do. */
  redirectBlobsTo?: string;
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Serve HTTPS with this key and certificate (e.g. from selfSignedCert()). */
  tls?: { key: string; cert: string };
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function send(res: ServerResponse, status: number, headers: Record<string, string> = {}, body?: Buffer | string): void {
  res.writeHead(status, { ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : { 'content-length': '0' }), ...headers });
  res.end(body);
}

function regError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  send(res, status, { 'content-type': 'application/json', ...headers }, JSON.stringify({ errors: [{ code, message }] }));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export class FakeRegistry {
  readonly requests: RecordedRequest[] = [];
  /** Token requests: granted scopes and whether credentials were presented. */
  readonly tokens = new Map<string, { scopes: Set<string>; expiresAt: number }>();
  readonly blobs = new Map<string, Buffer>();
  readonly repoBlobs = new Map<string, Set<string>>();
  readonly manifests = new Map<string, Map<string, { raw: Buffer; mediaType: string }>>();
  private readonly uploads = new Map<string, { repo: string; data: Buffer[]; size: number }>();
  private readonly faults: FaultRule[] = [];
  private server!: Server;
  host = '';
  /** Redirect blob GETs to this base URL (another host); see FakeBlobHost. */
  redirectBlobsTo: string | undefined;

  constructor(readonly opts: FakeRegistryOptions = {}) {
    this.redirectBlobsTo = opts.redirectBlobsTo;
  }

  static async start(opts: FakeRegistryOptions = {}): Promise<FakeRegistry> {
    const r = new FakeRegistry(opts);
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      r.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) regError(res, 500, 'UNKNOWN', String(e));
        else res.destroy();
      });
    };
    r.server = opts.tls ? createTlsServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : createServer(handler);
    await new Promise<void>((ok) => r.server.listen(0, opts.host ?? '127.0.0.1', ok));
    const a = r.server.address() as AddressInfo;
    r.host = `${a.address}:${a.port}`;
    return r;
  }

  get url(): string {
    return `${this.opts.tls ? 'https' : 'http'}://${this.host}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }

  /**
   * Apply `fault` to the next `times` requests matching method and path (a RegExp over path+query)
   * and, if given, `range` (a RegExp over the Range header; requests without one do not match).
   */
  inject(method: string, path: RegExp, fault: Fault, times = 1, range?: RegExp): void {
    this.faults.push({ match: (m, p, r) => m === method && path.test(p) && (!range || (r !== undefined && range.test(r))), times, fault });
  }

  /** Forget every issued token (the next request with an old token gets 401). */
  revokeTokens(): void {
    this.tokens.clear();
  }

  addBlob(repo: string, data: Buffer, digest = sha(data)): string {
    this.blobs.set(digest, data);
    let s = this.repoBlobs.get(repo);
    if (!s) this.repoBlobs.set(repo, (s = new Set()));
    s.add(digest);
    return digest;
  }

  addManifest(repo: string, tag: string | undefined, raw: Buffer, mediaType: string): string {
    const d = sha(raw);
    let m = this.manifests.get(repo);
    if (!m) this.manifests.set(repo, (m = new Map()));
    m.set(d, { raw, mediaType });
    if (tag) m.set(tag, { raw, mediaType });
    return d;
  }

  requestsTo(server: string, re?: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.server === server && (!re || re.test(r.url)));
  }

  private takeFault(method: string, path: string, range: string | undefined): Fault | undefined {
    const rule = this.faults.find((f) => f.times > 0 && f.match(method, path, range));
    if (!rule) return undefined;
    rule.times--;
    return rule.fault;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
    this.requests.push({ method, url, headers: req.headers, server: path === '/token' ? 'token' : 'registry' });

    if (path === '/token') return this.token(req, res, method, query);
    const fault = this.takeFault(method, url, req.headers.range);
    if (fault && 'status' in fault) return send(res, fault.status, fault.headers ?? {}, fault.body ?? '');

    if (path === '/v2/' || path === '/v2') {
      if (!this.authorized(req, res, undefined, undefined)) return;
      return send(res, 200, { 'content-type': 'application/json' }, '{}');
    }
    let m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(path);
    if (m) {
      const repo = m[1]!;
      const mountFrom = query.get('from');
      if (!this.authorized(req, res, repo, 'push', mountFrom && method === 'POST' ? mountFrom : undefined)) return;
      return this.upload(req, res, method, repo, m[2]!, query);
    }
    m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    if (!m) return regError(res, 404, 'NOT_FOUND', 'no route');
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    const action = method === 'GET' || method === 'HEAD' ? 'pull' : 'push';
    if (!this.authorized(req, res, repo, action)) return;
    if (kind === 'manifests') return this.manifest(req, res, method, repo, ref);
    return this.blob(req, res, method, repo, ref, fault);
  }

  // --- auth ---

  private userOk(users: Record<string, string> | undefined, header: string | undefined): boolean | undefined {
    if (!header?.startsWith('Basic ')) return undefined;
    const [u, ...p] = Buffer.from(header.slice(6), 'base64').toString().split(':');
    return users !== undefined && users[u!] === p.join(':');
  }

  /** Checks auth for a request; on failure answers 401 with the challenge and returns false. */
  private authorized(req: IncomingMessage, res: ServerResponse, repo: string | undefined, action: 'pull' | 'push' | undefined, mountFrom?: string): boolean {
    const a = this.opts.auth;
    if (!a) return true;
    if (a.kind === 'basic') {
      if (this.userOk(a.users, req.headers.authorization)) return true;
      regError(res, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': 'Basic realm="fake"' });
      return false;
    }
    const need = repo && action ? [`repository:${repo}:${action}`] : [];
    if (mountFrom) need.push(`repository:${mountFrom}:pull`);
    const h = req.headers.authorization;
    const tok = h?.startsWith('Bearer ') ? this.tokens.get(h.slice(7)) : undefined;
    const ok = tok !== undefined && tok.expiresAt > Date.now() && need.every((s) => tok.scopes.has(s));
    if (ok) return true;
    const scope = need.length ? `,scope="${need.map((s) => s.replace(':push', ':pull,push')).join(' ')}"` : '';
    const err = tok ? ',error="insufficient_scope"' : '';
    regError(res, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': `Bearer realm="${this.url}/token",service="fake-registry"${scope}${err}` });
    return false;
  }

  private async token(req: IncomingMessage, res: ServerResponse, method: string, query: URLSearchParams): Promise<void> {
    const a = this.opts.auth;
    if (!a || a.kind !== 'bearer') return regError(res, 404, 'NOT_FOUND', 'no token server');
    let params = query;
    let who: 'anonymous' | 'user' = 'anonymous';
    if (method === 'POST') {
      params = new URLSearchParams((await readBody(req)).toString());
      const rt = params.get('refresh_token');
      if (params.get('grant_type') !== 'refresh_token' || !rt || !Object.values(a.identityTokens ?? {}).includes(rt)) {
        return send(res, 401, { 'content-type': 'application/json' }, '{"error":"invalid_grant"}');
      }
      who = 'user';
    } else {
      const ok = this.userOk(a.users, req.headers.authorization);
      if (ok === false) return send(res, 401, { 'content-type': 'application/json' }, '{"details":"incorrect username or password"}');
      if (ok) who = 'user';
    }
    if (params.get('service') !== 'fake-registry') return send(res, 400, {}, 'bad service');
    const granted = new Set<string>();
    for (const s of params.getAll('scope').flatMap((x) => x.split(' '))) {
      const m = /^repository:(.+):([a-z,]+)$/.exec(s);
      if (!m) continue;
      const actions = m[2]!.split(',');
      for (const act of actions) {
        if (who === 'user' || (act === 'pull' && a.anonymousPull)) granted.add(`repository:${m[1]}:${act}`);
      }
    }
    const token = randomUUID();
    const ttl = a.tokenTtl ?? 300;
    this.tokens.set(token, { scopes: granted, expiresAt: Date.now() + ttl * 1000 });
    send(res, 200, { 'content-type': 'application/json' }, JSON.stringify({ token, expires_in: ttl, issued_at: new Date().toISOString() }));
  }

  // --- content ---

  private manifest(req: IncomingMessage, res: ServerResponse, method: string, repo: string, ref: string): Promise<void> | void {
    const repoManifests = this.manifests.get(repo);
    if (method === 'PUT') {
      return readBody(req).then((raw) => {
        const mediaType = req.headers['content-type'] ?? '';
        const parsed = JSON.parse(raw.toString()) as { config?: { digest: string }; layers?: { digest: string }[]; manifests?: { digest: string }[] };
        for (const d of [parsed.config, ...(parsed.layers ?? [])].filter(Boolean)) {
          if (!this.repoBlobs.get(repo)?.has(d!.digest)) return regError(res, 400, 'MANIFEST_BLOB_UNKNOWN', `blob unknown: ${d!.digest}`);
        }
        for (const d of parsed.manifests ?? []) {
          if (!repoManifests?.has(d.digest)) return regError(res, 400, 'MANIFEST_UNKNOWN', `manifest unknown: ${d.digest}`);
        }
        if (ref.startsWith('sha256:') && ref !== sha(raw)) return regError(res, 400, 'DIGEST_INVALID', 'digest mismatch');
        const d = this.addManifest(repo, ref.startsWith('sha256:') ? undefined : ref, raw, mediaType);
        send(res, 201, { location: `/v2/${repo}/manifests/${d}`, 'docker-content-digest': d });
      });
    }
    const m = repoManifests?.get(ref);
    if (!m) return regError(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
    const headers = { 'content-type': m.mediaType, 'docker-content-digest': sha(m.raw), 'content-length': String(m.raw.length) };
    if (method === 'HEAD') {
      res.writeHead(200, headers);
      return void res.end();
    }
    res.writeHead(200, headers);
    res.end(m.raw);
  }

  private blob(req: IncomingMessage, res: ServerResponse, method: string, repo: string, digest: string, fault: Fault | undefined): void {
    const data = this.repoBlobs.get(repo)?.has(digest) ? this.blobs.get(digest) : undefined;
    if (!data) return regError(res, 404, 'BLOB_UNKNOWN', 'blob unknown');
    if (method === 'HEAD') {
      res.writeHead(200, { 'content-length': String(data.length), 'docker-content-digest': digest });
      return void res.end();
    }
    if (this.redirectBlobsTo && !fault) {
      return send(res, 307, { location: `${this.redirectBlobsTo}/blobs/${digest}?X-Signature=secret-signature` });
    }
    serveBytes(req, res, fault && 'serve' in fault ? fault.serve : data, digest, this.opts.ranges ?? true, fault);
  }

  private async upload(req: IncomingMessage, res: ServerResponse, method: string, repo: string, id: string, query: URLSearchParams): Promise<void> {
    if (method === 'POST' && id === '') {
      const mount = query.get('mount');
      const from = query.get('from');
      if (mount && from && this.repoBlobs.get(from)?.has(mount)) {
        this.addBlob(repo, this.blobs.get(mount)!, mount);
        return send(res, 201, { location: `/v2/${repo}/blobs/${mount}`, 'docker-content-digest': mount });
      }
      const uuid = randomUUID();
      this.uploads.set(uuid, { repo, data: [], size: 0 });
      return send(res, 202, { location: `/v2/${repo}/blobs/uploads/${uuid}?_state=s1`, range: '0-0', 'docker-upload-uuid': uuid });
    }
    const up = this.uploads.get(id);
    if (!up || up.repo !== repo) return regError(res, 404, 'BLOB_UPLOAD_UNKNOWN', 'upload unknown');
    const body = await readBody(req);
    if (method === 'PATCH') {
      const cr = req.headers['content-range'];
      if (cr !== undefined) {
        const start = Number(cr.split('-')[0]);
        if (start !== up.size) return send(res, 416, { range: `0-${up.size - 1}` });
      }
      up.data.push(body);
      up.size += body.length;
      return send(res, 202, { location: `/v2/${repo}/blobs/uploads/${id}?_state=s${up.data.length + 1}`, range: `0-${up.size - 1}` });
    }
    if (method === 'PUT') {
      up.data.push(body);
      const all = Buffer.concat(up.data);
      const want = query.get('digest');
      if (want !== sha(all)) return regError(res, 400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
      this.uploads.delete(id);
      this.addBlob(repo, all);
      return send(res, 201, { location: `/v2/${repo}/blobs/${want}`, 'docker-content-digest': want });
    }
    return regError(res, 405, 'UNSUPPORTED', 'method not allowed');
  }
}

/** Serves blob bytes, honouring `Range: bytes=N-` and `bytes=N-M`, and the truncation/reset/range faults. */
export function serveBytes(req: IncomingMessage, res: ServerResponse, data: Buffer, digest: string, ranges: boolean, fault?: Fault): void {
  let start = 0;
  let end = data.length; // exclusive
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const honour = range !== null && ranges && !(fault && 'ignoreRange' in fault);
  if (honour) {
    start = Number(range[1]);
    if (range[2] && !(fault && 'ignoreRangeEnd' in fault)) end = Math.min(data.length, Number(range[2]) + 1);
  }
  const body = data.subarray(start, end);
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'docker-content-digest': digest, 'accept-ranges': ranges ? 'bytes' : 'none' };
  const partial = honour && (start > 0 || end < data.length);
  const status = partial ? 206 : 200;
  if (partial) headers['content-range'] = `bytes ${start}-${end - 1}/${data.length}`;
  if (fault && 'closeDelimitedAfter' in fault) {
    // Raw HTTP/1.0-style response: the body ends when the connection closes.
    const head = `HTTP/1.1 ${status} ${status === 206 ? 'Partial Content' : 'OK'}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\nconnection: close\r\n\r\n`;
    const sock = res.socket!;
    sock.write(head);
    sock.end(body.subarray(0, fault.closeDelimitedAfter));
    return;
  }
  res.writeHead(status, { ...headers, 'content-length': String(body.length) });
  if (fault && 'resetAfter' in fault) {
    res.write(body.subarray(0, fault.resetAfter), () => setTimeout(() => res.socket?.resetAndDestroy(), 50));
    return;
  }
  if (fault && 'truncateAfter' in fault) {
    res.write(body.subarray(0, fault.truncateAfter), () => setTimeout(() => res.socket?.end(), 50));
    return;
  }
  res.end(body);
}

/** A second host serving blobs by digest (object storage behind a redirect); records what it saw. */
export class FakeBlobHost {
  readonly requests: RecordedRequest[] = [];
  /** Digests this host answers 404 for (storage lost them). */
  readonly missing = new Set<string>();
  private server!: Server;
  host = '';
  constructor(private readonly registry: FakeRegistry) {}

  static async start(registry: FakeRegistry, bind = '127.0.0.2'): Promise<FakeBlobHost> {
    const h = new FakeBlobHost(registry);
    h.server = createServer((req, res) => {
      h.requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, server: 'blobhost' });
      const m = /^\/blobs\/(sha256:[a-f0-9]{64})/.exec(req.url ?? '');
      const data = m && !h.missing.has(m[1]!) ? registry.blobs.get(m[1]!) : undefined;
      if (!m || !data) return regError(res, 404, 'BLOB_UNKNOWN', 'blob unknown');
      serveBytes(req, res, data, m[1]!, true);
    });
    await new Promise<void>((ok) => h.server.listen(0, bind, ok));
    const a = h.server.address() as AddressInfo;
    h.host = `${a.address}:${a.port}`;
    return h;
  }

  get url(): string {
    return `http://${this.host}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }
}

/** A throwaway self-signed certificate for 127.0.0.1 (openssl), for TLS tests. */
export function selfSignedCert(dir: string): { key: string; cert: string } {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}
