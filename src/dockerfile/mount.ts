import { DockerfileError } from './errors.js';

/**
 * `RUN --mount=<csv>` (BuildKit `instructions/commands_runmount.go`). The front end parses and
 * validates the syntax; which types a build honours is the build engine's decision (kaniko, which
 * the lifecycle runs, implements cache and secret mounts and skips the others with a warning).
 */

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';

export interface RunMount {
  type: MountType;
  target?: string;
  source?: string;
  /** Another stage or image: never available in a single-stage extension Dockerfile. */
  from?: string;
  readOnly: boolean;
  /** Cache id (type=cache) or secret id (type=secret). */
  id?: string;
  sharing?: 'shared' | 'private' | 'locked';
  /** secret and ssh: fail when the secret is not provided. */
  required: boolean;
  /** tmpfs size in bytes. */
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  /** secret: expose the secret as this environment variable. */
  env?: string;
}

const TYPES: ReadonlySet<string> = new Set(['bind', 'cache', 'tmpfs', 'secret', 'ssh']);
const SHARING: ReadonlySet<string> = new Set(['shared', 'private', 'locked']);

function bad(detail: string, hint?: string): never {
  throw new DockerfileError('FLAG', `RUN --mount: ${detail}`, hint ? { hint } : {});
}

/** Comma-separated fields; a field may be "double quoted" with "" for a quote (go-csvvalue). */
export function csvFields(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) bad(`unterminated quote in ${JSON.stringify(s)}`);
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += s[i++];
      }
      if (i < s.length && s[i] !== ',') bad(`unexpected text after a quoted field in ${JSON.stringify(s)}`);
    } else {
      const end = s.indexOf(',', i);
      field = end < 0 ? s.slice(i) : s.slice(i, end);
      i = end < 0 ? s.length : end;
    }
    out.push(field);
    if (i >= s.length) return out;
    i++; // the comma
  }
}

function parseBool(key: string, v: string): boolean {
  const l = v.toLowerCase();
  if (['1', 't', 'true'].includes(l)) return true;
  if (['0', 'f', 'false'].includes(l)) return false;
  return bad(`invalid value for ${key}: ${v}`);
}

function parseUint(key: string, v: string, radix: 8 | 10): number {
  const ok = radix === 8 ? /^[0-7]+$/.test(v) : /^\d+$/.test(v);
  const n = ok ? Number.parseInt(v, radix) : NaN;
  if (!Number.isSafeInteger(n) || n > 0xffffffff) bad(`invalid value ${v} for ${key}`);
  return n;
}

/** docker/go-units RAMInBytes: 64m, 1g, 512k, 1.5GiB … (binary multiples). */
function ramInBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(v);
  if (!m) return bad(`invalid value for size: ${v}`);
  const power = ['', 'k', 'm', 'g', 't', 'p'].indexOf(m[2]!.toLowerCase());
  return Math.floor(Number(m[1]) * 1024 ** power);
}

/**
 * Parses one `--mount` value. `expandValue` expands each value (Docker expands mount options with
 * the build's variables); pass the identity to parse without expanding.
 */
export function parseRunMount(spec: string, expandValue: (v: string) => string = (v) => v): RunMount {
  const m: RunMount = { type: 'bind', readOnly: true, required: false };
  let roAuto = true;
  for (const field of csvFields(spec)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === 'readonly' || key === 'ro') m.readOnly = true;
      else if (key === 'readwrite' || key === 'rw') m.readOnly = false;
      else if (key === 'required' && (m.type === 'secret' || m.type === 'ssh')) {
        m.required = true;
        continue;
      } else if (key === 'required') bad(`unexpected key '${key}' for mount type '${m.type}'`);
      else bad(`invalid field '${field}' must be a key=value pair`);
      roAuto = false;
      continue;
    }
    const value = expandValue(field.slice(eq + 1));
    switch (key) {
      case 'type':
        if (!TYPES.has(value.toLowerCase())) bad(`unsupported mount type ${JSON.stringify(value)}`, 'types are bind, cache, tmpfs, secret, ssh');
        m.type = value.toLowerCase() as MountType;
        break;
      case 'from':
        m.from = value;
        break;
      case 'source':
      case 'src':
        m.source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = value;
        break;
      case 'readonly':
      case 'ro':
        m.readOnly = parseBool(key, value);
        roAuto = false;
        break;
      case 'readwrite':
      case 'rw':
        m.readOnly = !parseBool(key, value);
        roAuto = false;
        break;
      case 'required':
        if (m.type !== 'secret' && m.type !== 'ssh') bad(`unexpected key '${key}' for mount type '${m.type}'`);
        m.required = parseBool(key, value);
        break;
      case 'size':
        if (m.type !== 'tmpfs') bad(`unexpected key '${key}' for mount type '${m.type}'`);
        m.size = ramInBytes(value);
        break;
      case 'id':
        m.id = value;
        break;
      case 'sharing':
        if (!SHARING.has(value.toLowerCase())) bad(`unsupported sharing value ${JSON.stringify(value)}`, 'use shared, private or locked');
        m.sharing = value.toLowerCase() as RunMount['sharing'];
        break;
      case 'mode':
        m.mode = parseUint(key, value, 8);
        break;
      case 'uid':
        m.uid = parseUint(key, value, 10);
        break;
      case 'gid':
        m.gid = parseUint(key, value, 10);
        break;
      case 'env':
        m.env = value;
        break;
      default:
        bad(`unexpected key '${key}' in '${field}'`);
    }
  }
  const fileInfoAllowed = m.type === 'secret' || m.type === 'ssh' || m.type === 'cache';
  if (!fileInfoAllowed) {
    for (const k of ['mode', 'uid', 'gid'] as const) if (m[k] !== undefined) bad(`${k} not allowed for "${m.type}" type mounts`);
  }
  if (roAuto) m.readOnly = !(m.type === 'cache' || m.type === 'tmpfs');
  if (m.type === 'secret') {
    if (m.from !== undefined) bad('secret mount should not have a from');
    if (m.sharing !== undefined) bad('secret mount should not define sharing');
    if (!m.source && !m.target && !m.id) bad('invalid secret mount. one of source, target required');
    if (m.source && m.id) bad("both source and id can't be set");
  }
  if (m.sharing !== undefined && m.type !== 'cache') bad(`invalid cache sharing set for ${m.type} mount`);
  if ((m.type === 'bind' || m.type === 'cache' || m.type === 'tmpfs') && !m.target) {
    bad(`a ${m.type} mount needs a target`, 'add target=<path in the image>');
  }
  return m;
}
