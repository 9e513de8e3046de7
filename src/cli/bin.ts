#!/usr/bin/env node
// The `cnb-extender` command: parse nothing here, just hand over to main. As root, the work runs in
// a private mount namespace (mount-namespace.ts): mounts never outlive the process.
import { delegateToPrivateMountNamespace } from './mount-namespace.js';

const delegated = await delegateToPrivateMountNamespace(process.env);
if (delegated !== null) {
  process.exitCode = delegated;
} else {
  const { main } = await import('./main.js');
  process.exitCode = await main(process.argv.slice(2), process.env, {
    stdout: process.stdout,
    stderr: process.stderr,
  });
}
