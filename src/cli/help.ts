// `-help` for every command: what it does, its flags (the flag set's own Go-style listing, so it
// cannot drift from the code), the environment it reads, examples and exit codes. docs/cli.md is
// generated from this output (docs/gen-cli-docs.mjs).

export interface HelpSpec {
  /** The synopsis after `Usage: `. */
  usage: string;
  about: string;
  env?: ReadonlyArray<readonly [string, string]>;
  examples: readonly string[];
  exitCodes: string;
}

const WIDTH = 100;

/** A paragraph re-flowed to `width` columns. */
export function wrap(paragraph: string, width: number): string {
  const lines: string[] = [];
  let cur = '';
  for (const word of paragraph.split(/\s+/).filter(Boolean)) {
    if (cur !== '' && cur.length + 1 + word.length > width) {
      lines.push(cur);
      cur = word;
    } else cur = cur === '' ? word : `${cur} ${word}`;
  }
  if (cur !== '') lines.push(cur);
  return lines.join('\n');
}

/**
 * Our commands: synopsis, description, flags, environment, examples, exit codes. The lifecycle's
 * phases keep Go's `Usage of <phase>:` block first (as the lifecycle prints it) and add the rest after.
 */
export function helpText(spec: HelpSpec, flagUsage: string, opts: { lifecycle?: boolean } = {}): string {
  const flags = opts.lifecycle ? flagUsage : flagUsage.replace(/^Usage of [^\n]*:\n/, 'Flags:\n');
  const env = spec.env && spec.env.length > 0
    ? `\nEnvironment:\n${spec.env.map(([k, v]) => `  ${k.padEnd(24)} ${v}`).join('\n')}\n`
    : '';
  const examples = `\nExamples:\n${spec.examples.map((e) => e.split('\n').map((l) => `  ${l}`).join('\n')).join('\n\n')}\n`;
  const exit = `\n${wrap(`Exit codes: ${spec.exitCodes}`, WIDTH)}\n`;
  const about = `${spec.about.trim().split(/\n\s*\n/).map((p) => wrap(p, WIDTH)).join('\n\n')}\n`;
  if (opts.lifecycle) return `${flags}\nUsage: ${spec.usage}\n\n${about}${env}${examples}${exit}`;
  return `Usage: ${spec.usage}\n\n${about}\n${flags}${env}${examples}${exit}`;
}

export const OUR_EXIT_CODES =
  '0 ok, 1 failed (I/O, no space, bug), 2 bad flags or arguments, 3 invalid Dockerfile, 4 a RUN failed, ' +
  '5 bad COPY/ADD source or destination, unknown USER/--chown user, 6 unreadable or corrupt input image/layout, ' +
  '7 registry error (auth, network, not found), 130 interrupted. Details: docs/cli.md.';

const OUTPUT_ENV: ReadonlyArray<readonly [string, string]> = [
  ['CNBX_PROGRESS', 'default for -progress (auto, tty, plain, lifecycle, quiet)'],
];

export const APPLY_HELP: HelpSpec = {
  usage: 'cnb-extender apply -base <layout>[:<tag>|@sha256:<hex>] -dockerfile <file> -output <dir>[:<tag>] [flags]',
  about: `
Apply one CNB image-extension Dockerfile (a build.Dockerfile or run.Dockerfile) to an image in an
OCI image layout and write the extended image as an OCI layout. The Dockerfile is checked first as
the lifecycle checks extension Dockerfiles (-kind), so a mistake is reported before anything runs.
Each instruction that changes files becomes one layer; RUN executes in a chroot of the image with
private namespaces, which needs root. Base layers are extracted once into -cache-dir and reused.
Nothing is written to -output unless the whole build succeeded; a new output directory appears
atomically. The result (layout, digest, steps, new layers) is printed on stdout; progress and RUN
output go to stderr.`,
  env: [
    ['CNBX_CACHE_DIR', 'default for -cache-dir (/var/tmp/cnb-extender-cache)'],
    ['SOURCE_DATE_EPOCH', 'seconds since the epoch: clamps file times in new layers and sets history dates (reproducible layers)'],
    ...OUTPUT_ENV,
  ],
  examples: [
    '# a base image as an OCI layout, if you do not have one yet\nskopeo copy docker://debian:bookworm oci:debian:latest',
    '# extend a run image with a run.Dockerfile, passing the user the lifecycle would pass\ncnb-extender apply -base /layouts/run:latest -dockerfile ext/run.Dockerfile -kind run \\\n    -build-arg user_id=1000 -build-arg group_id=1000 -output /layouts/run-extended:latest',
    '# write only the new layers (a sparse layout), with a machine report and plain progress\ncnb-extender apply -base busybox:latest -dockerfile Dockerfile -output out:latest -sparse \\\n    -json report.json -progress plain',
  ],
  exitCodes: OUR_EXIT_CODES,
};

export const DEMO_HELP: HelpSpec = {
  usage: 'cnb-extender demo [flags]',
  about: `
Build the small busybox fixture image (fixtures/make-fixtures.sh, a second or two, cached under
$CNBX_FIXTURES), apply the sample extension fixtures/extensions/hello/run.Dockerfile to it, and show
what changed: the steps, the files each new layer adds or deletes, and the config changes. Needs
root (RUN runs in a chroot). The output is written to a temporary directory and removed.`,
  env: [
    ['CNBX_FIXTURES', 'where fixture images are built and cached (/var/tmp/cnb-extender-fixtures)'],
    ['CNBX_CACHE_DIR', 'the layer cache, as for apply'],
    ...OUTPUT_ENV,
  ],
  examples: ['cnb-extender demo', 'cnb-extender demo -progress plain -json demo-report.json'],
  exitCodes: OUR_EXIT_CODES,
};

const LIFECYCLE_ENV_NOTE = 'Every flag also has the lifecycle\'s CNB_* variable (docs/cli.md lists them); CNB_PLATFORM_API is required.';

export const EXTENDER_HELP: HelpSpec = {
  usage: 'extender [flags]   (also: cnb-extender extender [flags])',
  about: `
The lifecycle's extender phase, in place of kaniko: applies the build.Dockerfile or run.Dockerfile
that each image extension generated (<generated>/<extension>/…, in group.toml order) to the build
or run image that the restorer saved under <kaniko-dir>/cache/base, and writes the extended image
to <extended>/<kind>/sha256:<digest>/ for the exporter (kind=run), or runs the builder on it
(kind=build). Flags, environment, defaults and exit codes are the lifecycle's; -kaniko-dir,
-skip-builder, -json, -progress and -quiet are ours. ${LIFECYCLE_ENV_NOTE}
Flags gated by Platform API appear only when CNB_PLATFORM_API allows them (-kind, -extended: 0.12+).`,
  env: [
    ['CNB_PLATFORM_API', 'required: 0.10 to 0.15'],
    ['CNB_KANIKO_DIR', 'default for -kaniko-dir (/kaniko)'],
    ['CNB_SKIP_BUILDER', 'default for -skip-builder'],
    ...OUTPUT_ENV,
  ],
  examples: [
    '# in the lifecycle container, after the restorer (run-image extension)\nCNB_PLATFORM_API=0.13 /cnb/lifecycle/extender -kind run -log-level info',
    '# with explicit directories and a report\nCNB_PLATFORM_API=0.13 extender -kind build -layers /layers -kaniko-dir /kaniko \\\n    -generated /layers/generated -skip-builder -json /layers/extend-report.json',
  ],
  exitCodes: "0 ok, 1 failed, 2 bad flag, 3 unexpected arguments or bad -kind, 11 Platform API, 12 extension's Buildpack API, 102 extending the image failed (a bad Dockerfile, a failing RUN…), 51/52 and others from the builder (kind=build). Details: docs/cli.md.",
};

export const RESTORE_HELP: HelpSpec = {
  usage: 'cnb-extender restore [flags]',
  about: `
The image-extension part of the lifecycle's restorer: pulls the build image (-build-image) and, when
analyzed.toml says run-image.extend = true, the run image, as full OCI layouts into
<kaniko-dir>/cache/base/sha256:<digest>/ (reused when complete), and writes their digest
references (and target) back into analyzed.toml for the extender. Registry only. Credentials come
from CNB_REGISTRY_AUTH, then the docker config ($DOCKER_CONFIG, ~/.docker/config.json); they are
never printed. ${LIFECYCLE_ENV_NOTE}`,
  env: [
    ['CNB_PLATFORM_API', 'required: 0.7 to 0.15'],
    ['CNB_REGISTRY_AUTH', 'registry credentials as JSON: {"<registry>": "Basic <base64>"}'],
    ['CNB_INSECURE_REGISTRIES', 'comma-separated registries reachable over plain HTTP'],
    ['CNB_KANIKO_DIR', 'default for -kaniko-dir (/kaniko)'],
    ...OUTPUT_ENV,
  ],
  examples: [
    'CNB_PLATFORM_API=0.13 cnb-extender restore -layers /layers -kaniko-dir /kaniko \\\n    -build-image registry.example.com/builder:latest',
    '# a local registry on plain HTTP, with a report\nCNB_PLATFORM_API=0.13 cnb-extender restore -insecure-registry localhost:5000 -json restore.json',
  ],
  exitCodes: '0 ok, 1 failed (pull, access, read or write), 2 bad flag, 3 unexpected arguments, 11 Platform API, 12 Buildpack API. Details: docs/cli.md.',
};

export const EXPORT_HELP: HelpSpec = {
  usage: 'cnb-extender export [flags] <image>',
  about: `
The exporter for image extension: composes the app image on the run image — the extended one from
<extended>/run when run-image extension happened (its layers re-tarred as the lifecycle does) —
adds the app directory (-app) and any -layer-dir as layers with the lifecycle's metadata label,
and writes it as an OCI layout (-layout under -layout-dir at the imgutil path of <image>, or
-output <dir>), full or -sparse (without the run image's base layers), or pushes it to <image> in
its registry. ${LIFECYCLE_ENV_NOTE}`,
  env: [
    ['CNB_PLATFORM_API', 'required: 0.10 to 0.15'],
    ['CNB_REGISTRY_AUTH', 'registry credentials as JSON: {"<registry>": "Basic <base64>"}'],
    ['CNB_USE_LAYOUT / CNB_LAYOUT_DIR', 'defaults for -layout / -layout-dir (0.12+)'],
    ['SOURCE_DATE_EPOCH', 'the image creation time (default: the lifecycle\'s fixed 1980 date)'],
    ...OUTPUT_ENV,
  ],
  examples: [
    '# write the app image as an OCI layout directory\nCNB_PLATFORM_API=0.13 cnb-extender export -layers /layers -app /workspace -output /out/app my-app:latest',
    '# push it\nCNB_PLATFORM_API=0.13 cnb-extender export -layers /layers -app /workspace registry.example.com/my-app:latest',
  ],
  exitCodes: '0 ok, 1 failed, 2 bad flag, 3 invalid arguments (no image, no layout dir), 11 Platform API, 62 export failed. Details: docs/cli.md.',
};

/** Whether `-h`, `-help`, `--help` (or `--h`) is among the flags (before a `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (['-h', '-help', '--help', '--h'].includes(a)) return true;
  }
  return false;
}
