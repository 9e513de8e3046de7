/** The Logger of src/log.ts, declared structurally (snapshot/ cannot import src/). */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}
