// A stand-in for the Dockerfile build engine (src/build, not written yet) that honours the
// DockerfileEngine contract: it parses a small Dockerfile subset, appends real gzip layers made
// with oci storeLayer into ctx.store, uses ctx.cacheKeys / ctx.cache exactly as the contract says,
// and reports steps. RUN executes nothing; it models what a command would change:
//   `… install -y <pkg>`      → usr/bin/<pkg>
//   `… > <path>`              → <path> with the echoed text, unless under ctx.ignorePaths
//   `echo …`, `true`          → no change (no layer, no history)
//   anything else             → fake-run/<hash of the command>
// Commands that would run (not restored from the cache) are recorded in `executed`.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { appendHistory, appendLayers, sha256, storeLayer, withConfigFile, type Image, type Layer } from '../../../oci/index.js';
import type { ApplyContext, ApplyResult, DockerfileEngine, LoadedDockerfile, StepReport } from '../../../src/extender/engine.js';
import type { StepKeyInput } from '../../../src/extender/cache-key.js';
import { tarFrom } from '../../helpers/tar.js';

export interface FakeInstr {
  keyword: string;
  rest: string;
  line: number;
  original: string;
}

export class FakeEngine implements DockerfileEngine<FakeInstr[]> {
  /** Expanded RUN commands actually "executed" (not restored from the cache). */
  readonly executed: string[] = [];
  /** Every ctx the engine was given. */
  readonly contexts: ApplyContext[] = [];

  async load(text: string, path: string, kind: 'build' | 'run'): Promise<LoadedDockerfile<FakeInstr[]>> {
    const instrs: FakeInstr[] = [];
    const warnings: string[] = [];
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const sp = line.indexOf(' ');
      const keyword = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
      const rest = sp < 0 ? '' : line.slice(sp + 1).trim();
      if (!['FROM', 'ARG', 'ENV', 'LABEL', 'USER', 'RUN', 'COPY', 'CMD'].includes(keyword)) {
        throw new Error(`${path}:${i + 1}: unknown instruction: ${keyword}`);
      }
      if (keyword === 'CMD') warnings.push(`${kind}.Dockerfile command CMD on line ${i + 1} is not recommended`);
      instrs.push({ keyword, rest, line: i + 1, original: `${keyword} ${rest}`.trim() });
    });
    if (instrs.filter((x) => x.keyword === 'FROM').length !== 1) throw new Error(`${path}: exactly one FROM expected`);
    return { dockerfile: instrs, warnings };
  }

  async apply(base: Image, df: FakeInstr[], ctx: ApplyContext): Promise<ApplyResult> {
    this.contexts.push(ctx);
    const provided = new Map(ctx.args.map((a) => [a.name, a.value]));
    const scope = new Map<string, string>();
    let afterFrom = false;
    let img = base;
    const newLayers: Layer[] = [];
    const reports: StepReport[] = [];
    const env = () => new Map((img.config.config?.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    const expand = (s: string) => {
      const vars = new Map([...env(), ...scope]);
      return s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => vars.get((a ?? b)!) ?? '');
    };

    for (const ins of df) {
      const t0 = Date.now();
      const report = (cache: StepReport['cache'], layer: Layer | null) => {
        const r: StepReport = {
          extensionId: ctx.extensionId,
          instruction: ins.original,
          line: ins.line,
          durationMs: Date.now() - t0,
          cache,
          layer: layer ? { digest: layer.descriptor.digest, diffID: layer.diffID, size: layer.descriptor.size } : null,
        };
        reports.push(r);
        ctx.onStep(r);
      };
      switch (ins.keyword) {
        case 'FROM':
          afterFrom = true;
          break;
        case 'ARG': {
          const [name, def] = ins.rest.split('=') as [string, string | undefined];
          if (afterFrom) scope.set(name, provided.get(name) ?? def ?? '');
          break;
        }
        case 'ENV':
        case 'LABEL': {
          const [k, v] = ins.rest.split('=') as [string, string];
          const value = expand(v ?? '');
          img = withConfigFile(img, (c) => {
            const cc = { ...c.config };
            if (ins.keyword === 'ENV') cc.Env = [...(cc.Env ?? []).filter((e) => !e.startsWith(`${k}=`)), `${k}=${value}`];
            else cc.Labels = { ...cc.Labels, [k]: value };
            return { ...c, config: cc };
          });
          img = appendHistory(img, { created_by: ins.original, empty_layer: true });
          report('none', null);
          break;
        }
        case 'USER':
          img = withConfigFile(img, (c) => ({ ...c, config: { ...c.config, User: expand(ins.rest) } }));
          report('none', null);
          break;
        case 'CMD':
          report('none', null);
          break;
        case 'RUN':
        case 'COPY': {
          let content: Buffer;
          let name: string;
          let contextDigest: string | undefined;
          if (ins.keyword === 'RUN') {
            const cmd = expand(ins.rest);
            content = Buffer.from(cmd);
            const install = /install -y (\S+)/.exec(cmd);
            const redirect = /^echo (.*) > (\S+)$/.exec(cmd);
            if (install) name = `usr/bin/${install[1]}`;
            else if (redirect) {
              const path = redirect[2]!;
              name = ctx.ignorePaths.some((p) => path === p || path.startsWith(`${p}/`)) ? '' : path.replace(/^\/+/, '');
              content = Buffer.from(`${redirect[1]!.replace(/^"|"$/g, '')}\n`);
            } else if (cmd.startsWith('echo') || cmd === 'true') name = '';
            else name = `fake-run/${createHash('sha256').update(cmd).digest('hex').slice(0, 12)}`;
          } else {
            const [src, dest] = ins.rest.split(/\s+/) as [string, string];
            content = await readFile(join(ctx.contextDir, src));
            contextDigest = sha256(content);
            name = (dest.endsWith('/') ? `${dest}${src}` : dest).replace(/^\/+/, '');
          }
          const cfg = img.config.config ?? {};
          const key = ctx.cacheKeys.keyFor({
            parentChainID: chainID(img.config.rootfs.diff_ids),
            config: { env: cfg.Env ?? [], user: cfg.User ?? '', workdir: cfg.WorkingDir ?? '', shell: cfg.Shell ?? [] },
            platform: `${img.config.os}/${img.config.architecture}`,
            instruction: ins.original,
            args: [...scope],
            ...(contextDigest ? { contextDigest } : {}),
          } satisfies StepKeyInput);
          if (key !== null && ctx.cache) {
            const hit = await ctx.cache.get(key);
            if (hit === 'empty') {
              report('hit', null);
              break;
            }
            if (hit) {
              img = appendLayers(img, { layer: hit, history: { created_by: ins.original } });
              newLayers.push(hit);
              report('hit', hit);
              break;
            }
          }
          let layer: Layer | null = null;
          if (ins.keyword === 'RUN') this.executed.push(expand(ins.rest));
          if (name !== '') {
            layer = await storeLayer(Readable.from([tarFrom([{ name, content, mtime: 1_700_000_000 }])]), ctx.store);
            img = appendLayers(img, { layer, history: { created_by: ins.original, created: new Date().toISOString(), author: 'fake' } });
            newLayers.push(layer);
          }
          if (key !== null && ctx.cache) await ctx.cache.put(key, layer ?? 'empty');
          report(key === null ? 'bypass' : ctx.cache ? 'miss' : 'off', layer);
          break;
        }
      }
    }
    // Like kaniko, the engine stamps its own created time; the extender zeroes it.
    img = withConfigFile(img, (c) => ({ ...c, created: new Date().toISOString() }));
    return { image: img, newLayers, stepReports: reports };
  }
}

function chainID(diffIDs: readonly string[]): string | null {
  let c: string | null = null;
  for (const d of diffIDs) c = c === null ? d : sha256(`${c} ${d}`);
  return c;
}
