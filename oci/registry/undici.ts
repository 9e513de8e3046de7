import { createRequire } from 'node:module';
import type * as Undici from 'undici';

// undici is ~110 CommonJS files, 150-200 ms to load on a busy 2-CPU machine: more than half of
// what a warm `apply` spends importing. oci/index.ts re-exports the registry client, so a static
// import made every command pay for it, layout-only ones too. It is loaded when the first
// connection pool is made instead (a synchronous require: Agents are made in constructors).
let loaded: typeof Undici | undefined;

export function undici(): typeof Undici {
  return (loaded ??= createRequire(import.meta.url)('undici') as typeof Undici);
}
