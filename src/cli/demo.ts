import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from './io.js';

const PACKAGE_ROOT = resolve(import.meta.dirname, '../../..');

/** `cnb-extender demo`: the quick start's main job on a bundled default. */
export const demoCommand: Command = {
  name: 'demo',
  summary: 'build the bundled busybox base image and show it (the extension demo comes with the engine)',
  async run(_argv, env, io) {
    const fixtures = env.CNBX_FIXTURES ?? '/var/tmp/cnb-extender-fixtures';
    execFileSync('bash', [join(PACKAGE_ROOT, 'fixtures/make-fixtures.sh'), 'busybox'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...env, CNBX_FIXTURES: fixtures },
    });
    const dir = join(fixtures, 'busybox');
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
    const desc = index.manifests[0];
    const manifest = JSON.parse(readFileSync(join(dir, 'blobs', desc.digest.replace(':', '/')), 'utf8'));
    const config = JSON.parse(readFileSync(join(dir, 'blobs', manifest.config.digest.replace(':', '/')), 'utf8'));
    io.stdout.write(`base image ${dir}\n  manifest ${desc.digest}\n  layers   ${manifest.layers.length}\n  user     ${config.config?.User}\n`);
    return 0;
  },
};
