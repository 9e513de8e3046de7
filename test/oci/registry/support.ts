// Shared bits for the registry tests: a recording logger, seeding the fake registry, reading streams.
import type { Readable } from 'node:stream';
import { Registry, type RegistryOptions } from '../../../oci/index.js';
import type { FakeRegistry } from '../../helpers/fake-registry.js';
import type { MemoryImage } from './images.js';

export interface RecordingLogger {
  debug(m: string): void;
  info(m: string): void;
  warn(m: string): void;
  error(m: string): void;
  lines: string[];
}

export function recordingLogger(): RecordingLogger {
  const lines: string[] = [];
  const push = (level: string) => (m: string): void => void lines.push(`${level}: ${m}`);
  return { debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error'), lines };
}

/** Puts an image's blobs and manifest into a fake registry repository. */
export function seed(fake: FakeRegistry, repo: string, tag: string | undefined, img: MemoryImage): void {
  for (const [d, b] of img.blobs) fake.addBlob(repo, b, d);
  fake.addManifest(repo, tag, img.rawManifest, img.manifestMediaType);
}

export async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A Registry for a plain-HTTP test registry, with fast retries. */
export function clientFor(host: string, opts: RegistryOptions = {}): Registry {
  return new Registry({ insecure: [host], retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 200 }, ...opts });
}

/** Everything an error exposes: message, cause chain, enumerable fields, stack. */
export function errorText(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let i = 0; cur && i < 10; i++) {
    const err = cur as Error;
    parts.push(String(err.message), String(err.stack), JSON.stringify(err, Object.getOwnPropertyNames(err).filter((k) => k !== 'cause')));
    cur = err.cause;
  }
  return parts.join('\n');
}

export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}
