// Shared by the fuzz targets (test/hardening/fuzz-*.test.ts): budgets, the typed-error check, a
// hang guard, and byte mutations.
//
// Budgets: CNBX_FUZZ_RUNS inputs per property (default 150, a few seconds per target in
// `npm test`); `npm run fuzz` runs them with 20000 (CNBX_FUZZ_RUNS, CNBX_FUZZ_SEED to replay).
import fc from 'fast-check';
import { expect } from 'vitest';

export const FUZZ_RUNS = Number(process.env.CNBX_FUZZ_RUNS ?? 150);
export const FUZZ_SEED = process.env.CNBX_FUZZ_SEED !== undefined ? Number(process.env.CNBX_FUZZ_SEED) : undefined;
/** vitest timeout for a fuzz test: proportional to the budget. */
export const FUZZ_TIMEOUT = 60_000 + FUZZ_RUNS * 200;

export function fuzzParams<T>(extra: fc.Parameters<T> = {}): fc.Parameters<T> {
  return { numRuns: FUZZ_RUNS, ...(FUZZ_SEED !== undefined ? { seed: FUZZ_SEED } : {}), ...extra };
}

/** The error classes a module may throw on bad input (each with a literal `code`). */
export const TYPED = ['DockerfileError', 'SnapshotError', 'OciError', 'RegistryError', 'ExportError', 'BuildError', 'CnbError', 'ExtenderError'];

/** Fails unless `e` is one of `allowed` typed errors with a string code and a message. */
export function expectTyped(e: unknown, allowed: readonly string[], input: unknown): void {
  const err = e as { name?: unknown; code?: unknown; message?: unknown };
  const ok = allowed.includes(String(err?.name)) && typeof err?.code === 'string' && typeof err?.message === 'string' && err.message.length > 0;
  if (!ok) {
    const shown = typeof input === 'string' ? JSON.stringify(input.slice(0, 400)) : String(input).slice(0, 400);
    expect.fail(`untyped failure ${String(err?.name)}: ${String(err?.message ?? e)}\n${(e as Error)?.stack ?? ''}\ninput: ${shown}`);
  }
}

/** Runs `f`, failing with "hang" when it takes longer than `ms`. */
export async function bounded<T>(f: () => Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      f(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`hang: ${what} did not finish in ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** One edit of a byte buffer: flip, set, insert, delete, duplicate a span, truncate. */
export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: number[] }
  | { op: 'delete'; at: number; len: number }
  | { op: 'dup'; at: number; len: number; to: number }
  | { op: 'truncate'; at: number };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 0x20, 0x2f, 0x2e, 0x30, 0x37, 0x38, 0x7f, 0x80, 0xff) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 16 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 600 }) }),
  fc.record({ op: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 1024 }), to: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

export function mutate(input: Buffer, muts: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of muts) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.op) {
      case 'flip':
        b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'set':
        b[at] = m.value;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + m.len))]);
        break;
      case 'dup': {
        const span = b.subarray(at, Math.min(b.length, at + m.len));
        const to = m.to % b.length;
        b = Buffer.concat([b.subarray(0, to), span, b.subarray(to)]);
        break;
      }
      case 'truncate':
        b = b.subarray(0, at);
        break;
    }
  }
  return b;
}

// Field-level tar mutation: a header block's field set to an interesting value, checksum fixed,
// so the reader gets past the checksum and into its handling of the field.
const FIELDS = {
  name: [0, 100], mode: [100, 8], uid: [108, 8], gid: [116, 8], size: [124, 12], mtime: [136, 12], typeflag: [156, 1],
  linkname: [157, 100], magic: [257, 8], devmajor: [329, 8], devminor: [337, 8], prefix: [345, 155],
} as const;
const FIELD_VALUES: Record<keyof typeof FIELDS, readonly (string | number[])[]> = {
  name: ['../x', '/abs/x', 'a/../../b', '.wh...', '.wh..', 'a/.wh..wh..opq', '', 'a//b/./c', 'x'.repeat(100)],
  mode: ['0004755\0', '7777777\0', '0000000\0', '9999999\0', '       \0'],
  uid: ['7777777\0', '-000001\0', [0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]],
  gid: ['7777777\0', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
  size: ['00000001000\0', '77777777777\0', '00000000000\0', '00000000001\0', '-0000000001\0', 'zzzzzzzzzzz\0',
    [0x80, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
  mtime: ['77777777777\0', '00000000000\0', [0x80, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
  typeflag: ['0', '1', '2', '3', '4', '5', '6', '7', 'x', 'g', 'L', 'K', 'S', 'D', 'V', 'M', 'Z', '\0'],
  linkname: ['../../etc/passwd', '/', '', 'a', '.', '..', 'x'.repeat(100)],
  magic: ['ustar  \0', 'ustar\x0000', 'garbage!'],
  devmajor: ['0000000\0', '7777777\0'],
  devminor: ['0000000\0', '7777777\0'],
  prefix: ['..', '/', '../..', 'a'.repeat(155)],
};

export interface FieldMutation {
  block: number;
  field: keyof typeof FIELDS;
  pick: number;
}

export const fieldMutationArb: fc.Arbitrary<FieldMutation> = fc.record({
  block: fc.nat(),
  field: fc.constantFrom(...(Object.keys(FIELDS) as (keyof typeof FIELDS)[])),
  pick: fc.nat(),
});

function checksumOk(h: Buffer): boolean {
  const stored = parseInt(h.toString('latin1', 148, 156).replace(/[\0 ]+$/, '').trim(), 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return stored === sum;
}

/** Applies field mutations to header blocks (blocks whose checksum is valid), fixing the checksum. */
export function mutateFields(tar: Buffer, muts: readonly FieldMutation[]): Buffer {
  const b = Buffer.from(tar);
  const headers: number[] = [];
  for (let off = 0; off + 512 <= b.length; off += 512) if (b.subarray(off, off + 512).some((x) => x !== 0) && checksumOk(b.subarray(off, off + 512))) headers.push(off);
  if (headers.length === 0) return b;
  for (const m of muts) {
    const off = headers[m.block % headers.length]!;
    const [start, len] = FIELDS[m.field];
    const values = FIELD_VALUES[m.field];
    const v = values[m.pick % values.length]!;
    const bytes = typeof v === 'string' ? Buffer.from(v, 'latin1') : Buffer.from(v);
    b.fill(0, off + start, off + start + len);
    bytes.copy(b, off + start, 0, len);
    b.fill(0x20, off + 148, off + 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += b[off + i]!;
    b.write(`${sum.toString(8).padStart(6, '0')}\0 `, off + 148, 'latin1');
  }
  return b;
}
