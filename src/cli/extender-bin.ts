#!/usr/bin/env node
// The `extender` command (the lifecycle's extender phase): hand over to main, set the exit code.
import { main } from './extender.js';
import { defaultExtenderRuntime } from './extender-runtime.js';

process.exitCode = await main(
  process.argv.slice(2),
  process.env,
  { stdout: process.stdout, stderr: process.stderr },
  defaultExtenderRuntime({ cwd: process.cwd(), out: (line) => process.stdout.write(`${line}\n`) }),
);
