import { main } from './extender.js';
import { defaultExtenderRuntime } from './extender-runtime.js';
import type { Command } from './io.js';
import { onInterrupt } from './signals.js';

// `cnb-extender extender …`: the lifecycle's extender phase as a sub-command, exactly as the
// `extender` binary runs it (same flags, environment, output and exit codes).

export const extenderCommand: Command = {
  name: 'extender',
  summary: "the lifecycle's extender phase (kaniko's replacement): also installed as the `extender` binary",
  async run(argv, env, io) {
    const interrupt = onInterrupt();
    try {
      return await main(argv, env, io, defaultExtenderRuntime({ cwd: process.cwd(), out: (line) => io.stdout.write(`${line}\n`), signal: interrupt.signal }));
    } finally {
      interrupt.dispose();
    }
  },
};
