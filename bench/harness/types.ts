// Shapes shared by the bench harness and written to bench/results.json (schema 1).

export type BaseName = 'busybox' | 'debian' | 'debian-large';
export const ALL_BASES: readonly BaseName[] = ['busybox', 'debian', 'debian-large'];

export type Temperature = 'cold' | 'warm';

/** One engine configuration that builds a scenario's Dockerfile into an OCI layout. */
export interface EngineDef {
  id: string;
  label: string;
  tool: 'cnbx' | 'buildah';
  /** cnbx: the snapshotter; buildah: the storage driver. */
  variant: 'overlay' | 'scan' | 'vfs';
  temperature: Temperature;
  /** cnbx: write only the new layer blobs (-sparse), the shape the lifecycle's extender writes. */
  sparse?: boolean;
  /** Run only on these scenarios. */
  onlyScenarios?: string[];
}

/** A measurement that is not an engine building a scenario: the machine's yardsticks. */
export type ReferenceId = 'tar-xzf' | 'pigz-tar' | 'cnbx-materialize' | 'pigz-6';

export interface Scenario {
  name: string;
  title: string;
  short: string;
  dir: string;
  dockerfile: string;
  /** Build args per base. */
  args: Partial<Record<BaseName, Record<string, string>>>;
  /** Per-base remarks (what stands in for "large" on a small base). */
  notes: Partial<Record<BaseName, string>>;
  /** Bases this scenario is not run on, with the reason. */
  skip: Partial<Record<BaseName, string>>;
  /** Name of a generated context under <work>/contexts, else the scenario dir is the context. */
  context?: string;
  /** Bytes the step changes, for throughput figures. */
  changedBytes?: number;
}

/** A span recorded by trace-apply.mjs inside one cnb-extender run (ms since process start). */
export interface TraceSpan {
  name: string;
  start: number;
  end: number;
  depth: number;
}

export interface Trace {
  /** ms from process start to the first line of the entry script (node's own startup). */
  bootMs: number;
  /** ms to import the CLI and the modules it loads. */
  importMs: number;
  /** ms from process start until main() returned. */
  endMs: number;
  exitCode: number;
  spans: TraceSpan[];
}

export interface Sample {
  base: BaseName;
  /** Scenario name, or null for per-base references (tar-xzf, pigz-tar, cnbx-materialize). */
  scenario: string | null;
  /** An EngineDef id or a ReferenceId. */
  subject: string;
  kind: 'engine' | 'reference';
  /**
   * Which invocation of the harness took the sample (`--merge` appends a batch to an existing
   * results.json; absent in files written before batches: 0). Ratios pair samples of the same
   * batch and iteration only.
   */
  batch?: number;
  iteration: number;
  /** Position of this sample in the whole run (0-based), to see drift. */
  seq: number;
  startedAt: string;
  wallS: number;
  userS: number;
  sysS: number;
  /** Largest resident set of any single process of the run (GNU time %M, KiB → MiB). */
  maxRssMiB: number;
  loadavg1: number;
  ok: boolean;
  error?: string;
  /** buildah: the build and push commands separately. */
  parts?: Record<string, { wallS: number; maxRssMiB: number }>;
  /** cnbx: where the time went. */
  trace?: Trace;
  /** Extra figures (e.g. commitMs of a step, bytes). */
  extra?: Record<string, number>;
}

export interface BenchOptions {
  runs: number;
  /** Runs for the slowest cells (buildah on debian-large, scenarios other than trivial). */
  slowRuns: number;
  bases: BaseName[];
  scenarios: string[];
  engines: string[];
  refs: boolean;
  quick: boolean;
  /** Compiled tree (oci/, snapshot/, src/) the cnbx engine runs from. */
  dist: string;
  /** Where results.json, RESULTS.md and the chart go. */
  outDir: string;
  /** Scratch: caches, stores, outputs, contexts. */
  workDir: string;
  fixturesDir: string;
  /** Run cnb-extender through trace-apply.mjs (same main(), plus timestamps) rather than bin.js. */
  trace: boolean;
  /** Write RESULTS.md and the chart (off for the smoke test's speed: on by default). */
  report: boolean;
  /** Append this run as a new batch to <outDir>/results.json instead of replacing it. */
  merge?: boolean;
  log: (line: string) => void;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  os: string;
  workFs: string;
  workDir: string;
  node: string;
  buildah: string;
  pigz: string;
  tar: string;
  gitCommit: string;
  /** What was measured: the work tree as it was (with gitDirty), or a clean snapshot of HEAD. */
  tree: 'work tree' | 'HEAD snapshot';
  gitDirty: string[];
  loadavgStart: number[];
  loadavgEnd?: number[];
}

/** One invocation of the harness whose samples are in results.json. */
export interface BatchInfo {
  batch: number;
  startedAt: string;
  finishedAt: string;
  bases: BaseName[];
  scenarios: string[];
  engines: string[];
  runs: number;
  slowRuns: number;
  refs: boolean;
  gitCommit: string;
  tree: MachineInfo['tree'];
  gitDirty: string[];
  loadavgStart: number[];
  loadavgEnd?: number[];
}

export interface Results {
  schema: 1;
  startedAt: string;
  finishedAt: string;
  options: Omit<BenchOptions, 'log'>;
  machine: MachineInfo;
  bases: Array<{ name: BaseName; layers: number; compressedBytes: number; layout: string }>;
  scenarios: Array<Pick<Scenario, 'name' | 'title' | 'short' | 'notes' | 'skip'>>;
  engines: EngineDef[];
  /** The invocations merged into this file, oldest first (absent in files without batches). */
  batches?: BatchInfo[];
  samples: Sample[];
  summary: Summary;
}

export interface Stat {
  n: number;
  median: number;
  min: number;
  max: number;
}

export interface Cell {
  base: BaseName;
  scenario: string | null;
  subject: string;
  wall: Stat;
  /** user + sys CPU seconds of the whole process tree: less sensitive to a loaded machine than wall time. */
  cpu: Stat;
  rssMiB: Stat;
  failures: number;
  /** Pairwise (same iteration) ratios, keyed by what they compare. */
  ratios: Record<string, Stat>;
  /** cnbx: median ms of commitStep for the step that changes the files. */
  commitMs?: Stat;
}

export interface TargetResult {
  id: string;
  text: string;
  status: 'met' | 'missed' | 'not measured';
  figure: string;
  /** How far from the limit: "by 23 % (1.60× against ≤ 1.3×)", "with 12 % to spare". */
  margin?: string;
  reason?: string;
}

export interface Summary {
  cells: Cell[];
  targets: TargetResult[];
}
