#!/usr/bin/env node
// The `cnb-extender` command: parse nothing here, just hand over to main.
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2), process.env, {
  stdout: process.stdout,
  stderr: process.stderr,
});
