// The lifecycle's extender acceptance scenario (contract.md §7.1), in our own files: extensions
// `curl` and `tree` with build and run Dockerfiles in both generated layouts.
import { join } from 'node:path';
import { main } from '../../../src/cli/extender.js';
import { OciLayout, appendLayers, storeLayer, DirBlobStore, type Image } from '../../../oci/index.js';
import { Readable } from 'node:stream';
import { fixture } from '../../helpers/fixtures.js';
import { tarFrom } from '../../helpers/tar.js';
import { makeTree, put, writeAnalyzed, writeDockerfile, writeGroup, type Tree } from './cnb-tree.js';
import { FakeEngine } from './fake-engine.js';
import { buildImage, saveBase } from './images.js';
import { captureIO, testRuntime, type Captured } from './runtime.js';

export const CURL_BUILD = `ARG base_image
FROM \${base_image}

USER root
RUN apt-get update && apt-get install -y curl
COPY build-file /

ARG build_id=0
RUN echo \${build_id}
`;
export const CURL_RUN = `ARG base_image
FROM \${base_image}

USER root
RUN apt-get update && apt-get install -y curl
COPY run-file /

ARG build_id=0
RUN echo \${build_id}

# This should not create a layer as the path should be ignored
RUN echo "some-content" > /workspace/some-file

ARG user_id
USER \${user_id}
`;
export const TREE_BUILD = `ARG base_image
FROM \${base_image}

USER root
RUN apt-get update && apt-get install -y tree
COPY shared-file /shared-build

ENV CNB_STACK_ID=stack-id-from-ext-tree

ARG build_id=0
RUN echo \${build_id}
`;
export const TREE_RUN = `ARG base_image
FROM \${base_image}

USER root
RUN apt-get update && apt-get install -y tree
COPY shared-file /shared-run

ENV CNB_STACK_ID=stack-id-from-ext-tree

ARG build_id=0
RUN echo \${build_id}

LABEL io.buildpacks.rebasable=true

ARG user_id
USER \${user_id}
`;

/** A shell script standing in for /cnb/lifecycle/builder: it records what a buildpack would see. */
export const RECORDING_BUILDER = `#!/bin/sh
all="$*"
while [ $# -gt 0 ]; do [ "$1" = -layers ] && layers=$2; shift; done
out=$layers/builder-record
mkdir -p $out
echo "$all" > $out/args
id -u > $out/uid
id -g > $out/gid
env | sort > $out/env
pwd > $out/cwd
ls /usr/bin > $out/usr-bin
echo "builder ran"
exit \${CNB_TEST_BUILDER_EXIT:-0}
`;

export interface Scenario {
  t: Tree;
  base: Image;
  ref: string;
  env: Record<string, string>;
  engine: FakeEngine;
  run(argv?: string[], extraEnv?: Record<string, string>, engine?: FakeEngine): Promise<Captured>;
}

/**
 * A tree with the acceptance Dockerfiles for `api`, a base image saved in the kaniko cache
 * (busybox fixture + a recording builder, or `base` if given), analyzed.toml with both refs.
 */
export async function scenario(api: string, opts: { base?: Image; analyzedRef?: string } = {}): Promise<Scenario> {
  const t = await makeTree();
  const base = opts.base ?? (await busyboxWithBuilder(join(t.root, 'scratch')));
  const ref = await saveBase(t.kaniko, base);
  await writeAnalyzed(t, { build: opts.analyzedRef ?? ref, run: opts.analyzedRef ?? ref, extend: true });
  await writeGroup(t, [{ id: 'curl' }, { id: 'tree' }]);
  await put(join(t.layers, 'plan.toml'), '');
  const newLayout = Number(api.split('.')[1]) >= 13;
  if (newLayout) {
    await writeDockerfile(t, api, 'build', 'curl', CURL_BUILD, { contexts: { 'context.build': { 'build-file': 'build\n' }, 'context.run': { 'run-file': 'run\n' } } });
    await writeDockerfile(t, api, 'run', 'curl', atApp(CURL_RUN, t));
    await writeDockerfile(t, api, 'build', 'tree', TREE_BUILD, { contexts: { context: { 'shared-file': 'shared\n' } } });
    await writeDockerfile(t, api, 'run', 'tree', TREE_RUN);
  } else {
    // Before 0.13 the context is <app> and the acceptance Dockerfiles have no COPY.
    const noCopy = (s: string) => s.replace(/^COPY .*\n/m, '');
    await writeDockerfile(t, api, 'build', 'curl', noCopy(CURL_BUILD));
    await writeDockerfile(t, api, 'run', 'curl', atApp(noCopy(CURL_RUN), t));
    await writeDockerfile(t, api, 'build', 'tree', noCopy(TREE_BUILD));
    await writeDockerfile(t, api, 'run', 'tree', noCopy(TREE_RUN));
  }
  const env = {
    CNB_PLATFORM_API: api,
    CNB_LAYERS_DIR: t.layers,
    CNB_APP_DIR: t.app,
    CNB_PLATFORM_DIR: t.platform,
    CNB_KANIKO_DIR: t.kaniko,
    CNB_BUILDPACKS_DIR: join(t.root, 'no-buildpacks-on-host'),
    CNB_BUILD_CONFIG_DIR: join(t.root, 'no-build-config-on-host'),
  };
  const engine = new FakeEngine();
  return {
    t,
    base,
    ref,
    env,
    engine,
    async run(argv = [], extraEnv = {}, e = engine) {
      const c = captureIO();
      const code = await main(['-log-level', 'debug', '-uid', '1000', '-gid', '1000', ...argv], { ...env, ...extraEnv }, c.io, testRuntime(e));
      return { code, stdout: c.out(), stderr: c.err() };
    },
  };
}

/** Our <app> is a temp dir, not /workspace: point the write that must not make a layer at it. */
function atApp(text: string, t: Tree): string {
  return text.replace('/workspace/some-file', `${t.app}/some-file`);
}

/** The busybox fixture plus a layer with the recording builder at /cnb/lifecycle/builder. */
export async function busyboxWithBuilder(scratch: string): Promise<Image> {
  const bb = await (await OciLayout.open(fixture('busybox'))).image({ tag: 'latest' });
  const layer = await storeLayer(
    Readable.from([
      tarFrom([
        { name: 'cnb/', type: 'dir' },
        { name: 'cnb/lifecycle/', type: 'dir' },
        { name: 'cnb/lifecycle/builder', content: RECORDING_BUILDER, mode: 0o755 },
      ]),
    ]),
    new DirBlobStore(scratch),
  );
  return appendLayers(bb, { layer, history: { created_by: 'COPY builder /cnb/lifecycle/builder' } });
}

export { buildImage };
