/** What a command may touch of the outside world; passed in so commands are testable. */
export interface CliIO {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
}

export type Env = Readonly<Record<string, string | undefined>>;

/** One sub-command of `cnb-extender`. */
export interface Command {
  name: string;
  summary: string;
  run(argv: string[], env: Env, io: CliIO): Promise<number>;
}
