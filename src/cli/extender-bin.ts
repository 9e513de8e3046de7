#!/usr/bin/env node
// The `extender` command (the lifecycle's extender phase): hand over to main, set the exit code.
// SIGINT/SIGTERM abort the run (a RUN in progress is stopped, temp dirs are removed). As root, the
// work runs in a private mount namespace (mount-namespace.ts): mounts never outlive the process.
import { delegateToPrivateMountNamespace, watchRelay } from './mount-namespace.js';

const delegated = await delegateToPrivateMountNamespace(process.env);
if (delegated !== null) {
  process.exitCode = delegated;
} else {
  watchRelay(process.env);
  const [{ main }, { defaultExtenderRuntime }] = await Promise.all([import('./extender.js'), import('./extender-runtime.js')]);
  const abort = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => abort.abort(new Error(`received ${sig}`)));
  process.exitCode = await main(
    process.argv.slice(2),
    process.env,
    { stdout: process.stdout, stderr: process.stderr },
    defaultExtenderRuntime({ cwd: process.cwd(), out: (line) => process.stdout.write(`${line}\n`), signal: abort.signal }),
  );
}
