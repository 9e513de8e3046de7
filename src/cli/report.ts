import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isOciError, writeFileAtomic } from '../../oci/index.js';
import { packageVersion } from './version.js';

// The machine report of one run (`-json <file>`): what went in, every step with its duration and
// cache outcome, the new layers, what was written, the warnings, and how it ended. Written
// atomically (temp file beside the target, fsync, rename), on failure as well as on success, so a
// build system can always read why a run ended. The shape is documented in docs/cli.md.

export const REPORT_SCHEMA_VERSION = 1;

export interface ReportLayer {
  digest: string;
  diffID: string;
  size: number;
  mediaType?: string;
  /** The instruction that made it (history created_by), when known. */
  createdBy?: string;
}

export interface ReportStep {
  /** The extension that owns the Dockerfile (extender), absent for `apply`. */
  extensionId?: string;
  dockerfile?: string;
  line?: number;
  instruction: string;
  durationMs: number;
  /** hit: restored from the step cache; miss: run and stored; bypass: run, not storable; off: no cache; none: metadata only. */
  cache: 'hit' | 'miss' | 'bypass' | 'off' | 'none';
  layer: { digest: string; diffID: string; size: number } | null;
}

export interface ReportOutput {
  /** Manifest digest of the image written. */
  digest: string;
  mediaType?: string;
  size?: number;
  /** OCI layout directory written, with its tag. */
  layout?: string;
  tag?: string;
  sparse?: boolean;
  /** Registry reference pushed. */
  reference?: string;
}

export interface ReportImage {
  /** What the image is for: `build`, `run`. */
  role: string;
  reference: string;
  digest: string;
  dir?: string;
  /** Already complete in the cache: nothing was downloaded. */
  reused?: boolean;
  layers?: number;
  bytes?: number;
}

export interface ReportError {
  message: string;
  exitCode: number;
  /** The typed error's class and code (`BuildError`, `RUN_FAILED`…), when there is one. */
  name?: string;
  code?: string;
  file?: string;
  line?: number;
  path?: string;
  digest?: string;
  reference?: string;
}

export interface RunReport {
  schemaVersion: number;
  tool: { name: 'cnb-extender'; version: string };
  command: string;
  startedAt: string;
  durationMs: number;
  status: 'succeeded' | 'failed';
  exitCode: number;
  inputs: Record<string, unknown>;
  steps: ReportStep[];
  cacheHits: number;
  newLayers: ReportLayer[];
  output: ReportOutput | null;
  images: ReportImage[];
  warnings: string[];
  error: ReportError | null;
}

/** Collects a run's facts as they happen; `finish` turns them into the report. */
export class ReportBuilder {
  private readonly started = Date.now();
  private readonly t0 = performance.now();
  inputs: Record<string, unknown> = {};
  readonly steps: ReportStep[] = [];
  readonly newLayers: ReportLayer[] = [];
  readonly images: ReportImage[] = [];
  output: ReportOutput | null = null;

  constructor(readonly command: string) {}

  step(s: ReportStep): void {
    this.steps.push(s);
  }

  finish(exitCode: number, warnings: readonly string[], error: ReportError | null): RunReport {
    return {
      schemaVersion: REPORT_SCHEMA_VERSION,
      tool: { name: 'cnb-extender', version: packageVersion() },
      command: this.command,
      startedAt: new Date(this.started).toISOString(),
      durationMs: Math.round(performance.now() - this.t0),
      status: exitCode === 0 ? 'succeeded' : 'failed',
      exitCode,
      inputs: this.inputs,
      steps: this.steps,
      cacheHits: this.steps.filter((s) => s.cache === 'hit').length,
      newLayers: this.newLayers,
      output: this.output,
      images: this.images,
      warnings: [...warnings],
      error,
    };
  }
}

/**
 * Writes `value` as JSON to `path` atomically (oci's writeFileAtomic: a temp file beside it, fsync,
 * rename, fsync of the directory), creating the directory first. Failures carry the system error
 * itself, not oci's wrapper of it: the CLI prints `cannot write the -json report <path>: <cause>`.
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const target = resolve(path);
  await mkdir(dirname(target), { recursive: true });
  try {
    await writeFileAtomic(target, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o644 });
  } catch (e) {
    throw isOciError(e) && e.cause !== undefined ? e.cause : e;
  }
}

/** The structured part of a typed error (first in the cause chain that has each field). */
export function errorFacts(e: unknown, message: string, exitCode: number): ReportError {
  const out: ReportError = { message, exitCode };
  let cur: unknown = e;
  for (let depth = 0; cur instanceof Error && depth < 16; depth++, cur = cur.cause) {
    const x = cur as Error & Record<string, unknown>;
    if (out.name === undefined && x.name !== 'Error') out.name = x.name;
    if (out.code === undefined && typeof x.code === 'string') out.code = x.code;
    for (const k of ['file', 'path', 'digest', 'reference'] as const) {
      if (out[k] === undefined && typeof x[k] === 'string') out[k] = x[k] as string;
    }
    if (out.line === undefined && typeof x.line === 'number') out.line = x.line;
  }
  return out;
}
