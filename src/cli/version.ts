import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package version, read from the package.json above this file (src/cli/ or dist/src/cli/). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'cnb-extender' && pkg.version) return pkg.version;
    } catch {
      // not here; go up
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}

/** `cnb-extender 0.1.0 (node v20.19.0, linux/x64)`. */
export function versionLine(): string {
  return `cnb-extender ${packageVersion()} (node ${process.version}, ${process.platform}/${process.arch})`;
}
