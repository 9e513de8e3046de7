#!/usr/bin/env node
// The `cnb-extender` command: parse nothing here, just hand over to main. Commands report their own
// errors; anything that still escapes is a bug, printed as one line (the stack with CNBX_DEBUG=1).
// As root, the work runs in a private mount namespace (mount-namespace.ts): mounts never outlive
// the process, even a SIGKILLed one.
import { runInPrivateMountNamespace } from './mount-namespace.js';

await runInPrivateMountNamespace(process.env, async () => {
  try {
    const { main } = await import('./main.js');
    return await main(process.argv.slice(2), process.env, {
      stdout: process.stdout,
      stderr: process.stderr,
    });
  } catch (e) {
    const detail = process.env.CNBX_DEBUG === '1' && e instanceof Error ? `\n${e.stack}` : '';
    process.stderr.write(`ERROR: internal error: ${e instanceof Error ? e.message : String(e)} (a bug: please report it; CNBX_DEBUG=1 prints the stack)${detail}\n`);
    return 1;
  }
});
