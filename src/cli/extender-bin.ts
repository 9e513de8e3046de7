#!/usr/bin/env node
// The `extender` command (the lifecycle's extender phase): hand over to main, set the exit code.
// SIGINT/SIGTERM abort the run (a RUN in progress is stopped, temp dirs are removed). As root, the
// work runs in a private mount namespace (mount-namespace.ts): mounts never outlive the process.
import { runInPrivateMountNamespace } from './mount-namespace.js';

await runInPrivateMountNamespace(process.env, async () => {
  const [{ main }, { defaultExtenderRuntime }] = await Promise.all([import('./extender.js'), import('./extender-runtime.js')]);
  const abort = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => abort.abort(new Error(`received ${sig}`)));
  return main(
    process.argv.slice(2),
    process.env,
    { stdout: process.stdout, stderr: process.stderr },
    defaultExtenderRuntime({ cwd: process.cwd(), out: (line) => process.stdout.write(`${line}\n`), signal: abort.signal }),
  );
});
