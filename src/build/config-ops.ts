import { posix } from 'node:path';
import type { ContainerConfig } from '../../oci/index.js';

/**
 * Pure updates of an image's container config, one per metadata instruction, with Docker's
 * semantics. Each returns a new object; inputs are never modified.
 */

/** The default PATH Docker gives a RUN when the image sets none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** Env entries as an ordered map (the first `=` splits name and value). */
export function envMap(env: readonly string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    if (i < 0) m.set(e, '');
    else m.set(e.slice(0, i), e.slice(i + 1));
  }
  return m;
}

/** ENV: replaces variables in place, appends new ones (Docker keeps the original order). */
export function withEnv(cfg: ContainerConfig, pairs: ReadonlyArray<readonly [string, string]>): ContainerConfig {
  const env = [...(cfg.Env ?? [])];
  for (const [k, v] of pairs) {
    const i = env.findIndex((e) => e === k || e.startsWith(`${k}=`));
    if (i >= 0) env[i] = `${k}=${v}`;
    else env.push(`${k}=${v}`);
  }
  return { ...cfg, Env: env };
}

export function withLabels(cfg: ContainerConfig, pairs: ReadonlyArray<readonly [string, string]>): ContainerConfig {
  const labels = { ...(cfg.Labels ?? {}) };
  for (const [k, v] of pairs) labels[k] = v;
  return { ...cfg, Labels: labels };
}

export function withUser(cfg: ContainerConfig, user: string): ContainerConfig {
  return { ...cfg, User: user };
}

/** WORKDIR: relative paths resolve against the current working directory. */
export function withWorkdir(cfg: ContainerConfig, dir: string): ContainerConfig {
  return { ...cfg, WorkingDir: posix.resolve(cfg.WorkingDir || '/', dir) };
}

export function withShell(cfg: ContainerConfig, shell: string[]): ContainerConfig {
  return { ...cfg, Shell: [...shell] };
}

export function currentShell(cfg: ContainerConfig): string[] {
  return cfg.Shell && cfg.Shell.length > 0 ? cfg.Shell : DEFAULT_SHELL;
}

/** A command in shell form becomes `[...SHELL, text]`; exec form is kept as given. */
export function commandLine(cfg: ContainerConfig, form: 'shell' | 'exec', args: readonly string[]): string[] {
  return form === 'exec' ? [...args] : [...currentShell(cfg), args.join(' ')];
}

export function withCmd(cfg: ContainerConfig, cmd: string[]): ContainerConfig {
  return { ...cfg, Cmd: cmd };
}

/** ENTRYPOINT also clears a CMD inherited from the base image (Docker's rule). */
export function withEntrypoint(cfg: ContainerConfig, entrypoint: string[], cmdSetInThisBuild: boolean): ContainerConfig {
  const next: ContainerConfig = { ...cfg, Entrypoint: entrypoint };
  if (!cmdSetInThisBuild) next.Cmd = null;
  return next;
}

/** EXPOSE 80 8080/udp → ExposedPorts {"80/tcp": {}, "8080/udp": {}}. */
export function withExposedPorts(cfg: ContainerConfig, ports: readonly string[]): ContainerConfig {
  const exposed = { ...(cfg.ExposedPorts ?? {}) };
  for (const p of ports) {
    const [range, proto = 'tcp'] = p.split('/');
    const [from, to] = (range ?? '').split('-');
    const start = Number(from);
    const end = to === undefined ? start : Number(to);
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > 65535) {
      throw new Error(`invalid port ${JSON.stringify(p)}`);
    }
    for (let n = start; n <= end; n++) exposed[`${n}/${proto.toLowerCase()}`] = {};
  }
  return { ...cfg, ExposedPorts: exposed };
}

export function withVolumes(cfg: ContainerConfig, paths: readonly string[]): ContainerConfig {
  const volumes = { ...(cfg.Volumes ?? {}) };
  for (const p of paths) volumes[p] = {};
  return { ...cfg, Volumes: volumes };
}

export function withStopSignal(cfg: ContainerConfig, signal: string): ContainerConfig {
  return { ...cfg, StopSignal: signal };
}

export function withHealthcheck(cfg: ContainerConfig, healthcheck: Record<string, unknown>): ContainerConfig {
  return { ...cfg, Healthcheck: healthcheck };
}

export function withOnBuild(cfg: ContainerConfig, trigger: string): ContainerConfig {
  return { ...cfg, OnBuild: [...(cfg.OnBuild ?? []), trigger] };
}

/**
 * The environment a RUN sees: the image's Env, plus build args in scope that ENV does not shadow
 * (ENV always wins over an ARG of the same name), plus Docker's default PATH when none is set.
 */
export function runEnvironment(cfg: ContainerConfig, argsInScope: ReadonlyMap<string, string>): string[] {
  const env = envMap(cfg.Env);
  for (const [k, v] of argsInScope) if (!env.has(k)) env.set(k, v);
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  return [...env].map(([k, v]) => `${k}=${v}`);
}
