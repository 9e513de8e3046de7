// The restorer → extender → exporter flow of a CNB build with run-image extension, through the
// library API (no CLI): what a platform does between the lifecycle's detect and export when it
// uses cnb-extender in place of kaniko.
//
//   1. restore:  pull the run image (analyzed.toml says run-image.extend = true) as a full OCI
//                layout into <kaniko-dir>/cache/base, and pin its digest in analyzed.toml;
//   2. extend:   apply the run.Dockerfile each extension generated to it, writing the extended run
//                image to <layers>/extended/run/sha256:<digest>/;
//   3. export:   compose the app image on the extended run image and write it as an OCI layout.
//
// In a project of your own, import from the package: `cnb-extender` (this file's ../src/index.js),
// `cnb-extender/oci` and `cnb-extender/snapshot`. test/examples/flow.test.ts runs this file against
// a local registry; RUN steps need root.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Registry } from '../oci/index.js';
import { chooseSnapshotter, LayerCache, type Snapshotter } from '../snapshot/index.js';
import {
  buildImage,
  ChrootExecutor,
  exportImage,
  extend,
  inputsFromEnv,
  loadExtensionDockerfile,
  parseApiVersion,
  resolveInputPaths,
  restore,
  silentLogger,
  type DockerfileEngine,
  type Logger,
  type ParsedDockerfile,
} from '../src/index.js';

export interface FlowOptions {
  /** The run image in a registry, e.g. `localhost:5000/run:latest`. */
  runImage: string;
  /** Scratch space: <workDir>/layers, /workspace (the app), /kaniko, /platform, /oci (the result). */
  workDir: string;
  /** A registry client that can read `runImage` (credentials, insecure hosts…). */
  registry: Registry;
  log?: Logger;
}

export interface FlowResult {
  /** The run image's digest, as the restorer pinned it in analyzed.toml. */
  runImage: string;
  /** The extended run image (its manifest digest) and where the extender wrote it. */
  extended: { digest: string; dir: string; newLayers: number };
  /** The app image written as an OCI layout. */
  app: { digest: string; layout: string };
}

const PLATFORM_API = '0.13';

/** An extension's run.Dockerfile: installs a file as root, labels the image, returns to the build user. */
const RUN_DOCKERFILE = `ARG base_image
FROM \${base_image}
USER root
RUN mkdir -p /opt/hello && echo "installed by an image extension" > /opt/hello/greeting
LABEL com.example.extended=true
ARG user_id
USER \${user_id}
`;

/**
 * The Dockerfile engine the extender drives: cnb-extender's build engine on a snapshotter over the
 * layer cache in <kaniko-dir>/cache, RUN in the chroot executor. (`cnb-extender extender` wires the
 * same pieces, plus progress display.)
 */
export function dockerfileEngine(kanikoDir: string, log: Logger): DockerfileEngine<ParsedDockerfile> {
  const cache = new LayerCache(join(kanikoDir, 'cache', 'fs'), { log });
  const executor = new ChrootExecutor({ log });
  let snapshotter: Promise<Snapshotter> | undefined;
  return {
    async load(text, path, kind) {
      const { dockerfile, warnings } = loadExtensionDockerfile(text, path, kind);
      return { dockerfile, warnings };
    },
    async apply(base, dockerfile, ctx) {
      snapshotter ??= chooseSnapshotter('auto', cache, log, join(kanikoDir, 'cache', 'probe'));
      const report = <T extends object>(s: T) => ({ ...s, extensionId: ctx.extensionId });
      const r = await buildImage(base, dockerfile, {
        snapshotter: await snapshotter,
        workDir: join(ctx.workDir, 'ws'),
        executor,
        store: ctx.store,
        contextDir: ctx.contextDir,
        dockerfilePath: ctx.dockerfilePath,
        buildArgs: ctx.args.map((a) => [a.name, a.value] as const),
        ignorePaths: ctx.ignorePaths,
        cache: ctx.cache ? { store: ctx.cache, keys: ctx.cacheKeys } : null,
        onStep: (s) => ctx.onStep(report(s)),
        log: ctx.log,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      return { image: r.image, newLayers: r.newLayers, stepReports: r.steps.map(report) };
    },
  };
}

export async function flow(o: FlowOptions): Promise<FlowResult> {
  const log = o.log ?? silentLogger;
  const api = parseApiVersion(PLATFORM_API)!;
  const dirs = {
    layers: join(o.workDir, 'layers'),
    app: join(o.workDir, 'workspace'),
    kaniko: join(o.workDir, 'kaniko'),
    platform: join(o.workDir, 'platform'),
    oci: join(o.workDir, 'oci', 'app'),
  };
  for (const d of [dirs.layers, dirs.app, dirs.kaniko, dirs.platform]) await mkdir(d, { recursive: true });

  // What the lifecycle's analyzer and detector would have left: the group with one extension, the
  // run image to extend, the extension's generated run.Dockerfile — and the app.
  const analyzedPath = join(dirs.layers, 'analyzed.toml');
  const groupPath = join(dirs.layers, 'group.toml');
  const runPath = join(o.workDir, 'run.toml');
  await writeFile(groupPath, '[[group]]\nid = "samples/hello"\nversion = "0.0.1"\napi = "0.10"\n\n[[group-extensions]]\nid = "hello-ext"\nversion = "0.0.1"\napi = "0.10"\n');
  await writeFile(analyzedPath, `[run-image]\nreference = "${o.runImage}"\nimage = "${o.runImage}"\nextend = true\n`);
  await writeFile(runPath, `[[images]]\nimage = "${o.runImage}"\n`);
  await mkdir(join(dirs.layers, 'generated', 'hello-ext'), { recursive: true });
  await writeFile(join(dirs.layers, 'generated', 'hello-ext', 'run.Dockerfile'), RUN_DOCKERFILE);
  await writeFile(join(dirs.app, 'index.html'), '<h1>hello</h1>\n');

  // 1. restore
  const restored = await restore({ platformApi: api, analyzedPath, groupPath, runPath, kanikoDir: dirs.kaniko, registry: o.registry, log });
  const runReference = restored.analyzed?.runImage?.reference ?? '';

  // 2. extend (kind=run): the lifecycle's inputs, from its CNB_* variables and defaults
  const inputs = resolveInputPaths(
    inputsFromEnv(
      { CNB_EXTEND_KIND: 'run', CNB_LAYERS_DIR: dirs.layers, CNB_APP_DIR: dirs.app, CNB_PLATFORM_DIR: dirs.platform, CNB_KANIKO_DIR: dirs.kaniko, CNB_USER_ID: '1000', CNB_GROUP_ID: '1000' },
      api,
      () => 336n * 3_600_000_000_000n,
    ),
    o.workDir,
  );
  const extended = await extend(inputs, { engine: dockerfileEngine(dirs.kaniko, log), log });
  await extended.release();

  // 3. export: the app image on the extended run image, as an OCI layout
  const exported = await exportImage({
    platformApi: PLATFORM_API,
    analyzedPath,
    runPath,
    layersDir: dirs.layers,
    appDir: '/workspace',
    appLayers: [{ createdBy: 'Application Layer', dir: dirs.app, target: '/workspace', uid: 1000, gid: 1000 }],
    output: { kind: 'layout', dir: dirs.oci, tag: 'latest' },
    registry: o.registry,
    env: {},
    log,
  });

  return {
    runImage: runReference,
    extended: { digest: extended.image.digest, dir: extended.outputDir, newLayers: extended.totals.newLayers },
    app: { digest: exported.descriptor.digest, layout: dirs.oci },
  };
}
