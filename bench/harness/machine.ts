// What the figures were measured on.
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { sh } from './proc.js';
import type { MachineInfo } from './types.js';

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

export function describeMachine(workDir: string, repoDir: string): MachineInfo {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  const osRelease = (() => {
    try {
      return /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  })();
  const fs = firstLine(sh(['findmnt', '-n', '-o', 'FSTYPE,SOURCE,OPTIONS', '-T', workDir], { allowFail: true }));
  const dirty = sh(['git', '-C', repoDir, 'status', '--porcelain', '--untracked-files=no'], { allowFail: true })
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.slice(3));
  return {
    cpuModel: model,
    cores: Number(firstLine(sh(['nproc']))) || cpus().length,
    ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    os: osRelease,
    workFs: fs.replace(/\s+/g, ' '),
    workDir,
    node: process.version,
    buildah: firstLine(sh(['buildah', '--version'], { allowFail: true })) || 'not installed',
    pigz: firstLine(sh(['pigz', '--version'], { allowFail: true })) || 'not installed',
    tar: firstLine(sh(['tar', '--version'], { allowFail: true })),
    gitCommit: process.env.CNBX_BENCH_COMMIT ?? firstLine(sh(['git', '-C', repoDir, 'rev-parse', 'HEAD'], { allowFail: true })),
    tree: process.env.CNBX_BENCH_COMMIT ? 'HEAD snapshot' : 'work tree',
    gitDirty: process.env.CNBX_BENCH_COMMIT ? [] : dirty,
    loadavgStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
