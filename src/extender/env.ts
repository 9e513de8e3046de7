import { ExtenderError } from './errors.js';

/**
 * The extended build image's `Env` as name/value pairs, for the builder's environment. Each entry
 * must be `key=value`; the value may contain `=` (the lifecycle splits on every `=` and rejects
 * such values, a QUIRK we do not copy). An entry without `=` fails with the lifecycle's message.
 */
export function parseImageEnv(env: readonly string[] | undefined): [string, string][] {
  return (env ?? []).map((e) => {
    const i = e.indexOf('=');
    if (i <= 0) {
      throw new ExtenderError('ENV', `setting environment variables from extended image in current context: parsing env '${e}': expected format 'key=value'`, {
        kind: 'build',
      });
    }
    return [e.slice(0, i), e.slice(i + 1)];
  });
}
