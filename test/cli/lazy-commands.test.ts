// main.ts imports each command's module only when it runs; its table repeats the names and
// summaries, which must stay those of the command modules (the usage text shows main's copy).
import { describe, expect, it } from 'vitest';
import { COMMANDS, loadCommands } from '../../src/cli/main.js';

describe('cli: lazily loaded commands', () => {
  it('name and summary in main.ts match each command module', async () => {
    const loaded = await loadCommands();
    expect(COMMANDS.map((c) => [c.name, c.summary])).toEqual(loaded.map((c) => [c.name, c.summary]));
  });
});
