// An SVG chart of a run, drawn by hand (no chart library): wall time per scenario and engine on
// each base (log scale, median bar, min–max whisker, tar -xzf as a dashed line), how the trivial
// extend grows from the small to the large base, and where a warm trivial extend spends its time.
import { breakdown, PHASES, type Phase } from './breakdown.js';
import { findCell } from './summarize.js';
import { median } from './stats.js';
import type { Results } from './types.js';

const COLORS: Record<string, string> = {
  'cnbx-overlay-cold': '#1f4e9c',
  'cnbx-overlay-warm': '#6fa8f5',
  'cnbx-overlay-warm-sparse': '#b9d5fb',
  'cnbx-scan-cold': '#1b7a3a',
  'cnbx-scan-warm': '#7fd69a',
  'buildah-overlay-cold': '#b35900',
  'buildah-overlay-warm': '#f5b26b',
  'buildah-vfs-cold': '#8c1c3a',
  'buildah-vfs-warm': '#e58aa3',
};
const PHASE_COLORS = ['#bbbbbb', '#888888', '#c9b3e6', '#1f4e9c', '#6fa8f5', '#e6a23c', '#d64545', '#f2d0a4', '#3aa17e', '#9ad0c2', '#555599', '#dddddd'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function fmtAxis(s: number): string {
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  return `${s} s`;
}

function fmtBar(s: number): string {
  if (s < 1) return `${(s * 1000).toFixed(0)}ms`;
  if (s < 10) return `${s.toFixed(2)}s`;
  return `${s.toFixed(0)}s`;
}

export function renderChart(r: Results): string {
  const cells = r.summary.cells;
  const bases = r.bases.map((b) => b.name);
  const scenarios = r.scenarios;
  const engines = r.engines;
  const W = 1500;
  const labelW = 120;
  const gap = 30;
  const panelW = (W - labelW - 20 - gap * (bases.length - 1)) / Math.max(1, bases.length);
  const barH = 8;
  const rowH = engines.length * (barH + 1) + 14;
  const top = 124;
  const panelH = scenarios.length * rowH + 10;
  const out: string[] = [];

  // Log scale shared by all panels.
  const values = cells.filter((c) => (c.scenario !== null || c.subject === 'tar-xzf') && c.wall.n > 0).flatMap((c) => [c.wall.min, c.wall.max]);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.max(0.01, Math.min(...values, 1)))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, 1) * 1.05)));
  const x = (panel: number, s: number) => labelW + panel * (panelW + gap) + ((Math.log10(Math.max(s, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (panelW - 40);
  const ticks: number[] = [];
  for (let p = lo; p <= hi * 1.001; p *= 10) {
    ticks.push(p);
    if (p * 3 < hi) ticks.push(p * 3);
  }

  // Bottom plots.
  const bottomTop = top + panelH + 70;
  const bottomH = 300;
  const H = bottomTop + bottomH + 80;

  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  const m = r.machine;
  const ns = cells.filter((c) => c.scenario !== null && c.wall.n > 0).map((c) => c.wall.n);
  const nText = ns.length === 0 ? '' : Math.min(...ns) === Math.max(...ns) ? `median of ${ns[0]} run${ns[0] === 1 ? '' : 's'}` : `median of ${Math.min(...ns)}–${Math.max(...ns)} runs`;
  const loads = r.samples.map((s) => s.loadavg1).sort((a, b) => a - b);
  const loadText = loads.length > 0 ? `load avg (1 min) at sample start: median ${loads[Math.floor(loads.length / 2)]!.toFixed(1)}, max ${loads[loads.length - 1]!.toFixed(1)}` : '';
  out.push(`<text x="20" y="28" font-size="20" font-weight="bold">cnb-extender vs buildah: wall time per scenario (${nText}, bar; min–max, whisker; log scale)</text>`);
  out.push(`<text x="20" y="48" font-size="12" fill="#444">${esc(`${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Linux ${m.kernel}, ${m.workFs.split(' ')[0]}; node ${m.node}; ${m.buildah.replace(/ version/, '').replace(/\s*\(.*$/, '')}; ${r.startedAt.slice(0, 16).replace('T', ' ')}–${r.finishedAt.slice(11, 16)} UTC; ${loadText}`)}</text>`);
  // Legend.
  engines.forEach((e, i) => {
    const lx = 20 + (i % 9) * 163;
    const ly = 66 + Math.floor(i / 9) * 16;
    out.push(`<rect x="${lx}" y="${ly}" width="12" height="10" fill="${COLORS[e.id] ?? '#999'}"/><text x="${lx + 16}" y="${ly + 9}" font-size="11">${esc(e.label)}</text>`);
  });
  out.push(`<line x1="20" y1="${66 + 5 + 16}" x2="40" y2="${66 + 5 + 16}" stroke="#444" stroke-dasharray="4 3"/><text x="44" y="${66 + 9 + 16}" font-size="11">tar -xzf of the base's layers (physical reference)</text>`);

  bases.forEach((base, p) => {
    const px = labelW + p * (panelW + gap);
    const facts = r.bases.find((b) => b.name === base)!;
    out.push(`<text x="${px}" y="${top - 4}" font-size="14" font-weight="bold">${esc(base)} <tspan font-weight="normal" font-size="11" fill="#555">(${facts.layers} layer${facts.layers === 1 ? '' : 's'}, ${(facts.compressedBytes / 1e6).toFixed(0)} MB compressed)</tspan></text>`);
    out.push(`<rect x="${px}" y="${top}" width="${panelW - 40}" height="${panelH}" fill="#fafafa" stroke="#ddd"/>`);
    for (const t of ticks) {
      const tx = x(p, t);
      out.push(`<line x1="${tx}" y1="${top}" x2="${tx}" y2="${top + panelH}" stroke="#e3e3e3"/>`);
      out.push(`<text x="${tx}" y="${top + panelH + 14}" font-size="10" text-anchor="middle" fill="#555">${fmtAxis(t)}</text>`);
    }
    const tar = findCell(cells, base, null, 'tar-xzf');
    if (tar && tar.wall.n > 0) {
      const tx = x(p, tar.wall.median);
      out.push(`<line x1="${tx}" y1="${top}" x2="${tx}" y2="${top + panelH}" stroke="#444" stroke-dasharray="4 3"/>`);
      out.push(`<text x="${tx + 3}" y="${top + panelH + 26}" font-size="10" fill="#444">tar ${fmtBar(tar.wall.median)}</text>`);
    }
    scenarios.forEach((s, si) => {
      const ry = top + 6 + si * rowH;
      if (p === 0) out.push(`<text x="${labelW - 8}" y="${ry + rowH / 2}" font-size="12" text-anchor="end">${esc(s.short)}</text>`);
      if (si > 0) out.push(`<line x1="${px}" y1="${ry - 4}" x2="${px + panelW - 40}" y2="${ry - 4}" stroke="#ddd"/>`);
      if (s.skip[base]) {
        out.push(`<text x="${px + 6}" y="${ry + rowH / 2}" font-size="10" fill="#888">skipped: ${esc(s.skip[base]!)}</text>`);
        return;
      }
      if (!cells.some((c) => c.base === base && c.scenario === s.name)) {
        out.push(`<text x="${px + 6}" y="${ry + rowH / 2}" font-size="10" fill="#888">not run in this benchmark</text>`);
        return;
      }
      engines.forEach((e, ei) => {
        const c = findCell(cells, base, s.name, e.id);
        const by = ry + ei * (barH + 1);
        if (!c || c.wall.n === 0) {
          if (c && c.failures > 0) out.push(`<text x="${px + 4}" y="${by + barH - 1}" font-size="8" fill="#c00">${esc(e.label)}: failed</text>`);
          return;
        }
        const x0 = x(p, lo);
        const xm = x(p, c.wall.median);
        out.push(`<rect x="${x0}" y="${by}" width="${Math.max(1, xm - x0)}" height="${barH}" fill="${COLORS[e.id] ?? '#999'}"/>`);
        if (c.wall.n > 1) {
          out.push(`<line x1="${x(p, c.wall.min)}" y1="${by + barH / 2}" x2="${x(p, c.wall.max)}" y2="${by + barH / 2}" stroke="#222" stroke-width="1"/>`);
        }
        out.push(`<text x="${Math.max(xm, x(p, c.wall.max)) + 3}" y="${by + barH - 1}" font-size="8" fill="#333">${fmtBar(c.wall.median)}</text>`);
      });
    });
  });

  // Growth of the trivial extend.
  const gx0 = 80;
  const gw = 560;
  out.push(`<text x="20" y="${bottomTop - 18}" font-size="14" font-weight="bold">Trivial extend: growth from small to large base (median wall, log scale)</text>`);
  out.push(`<rect x="${gx0}" y="${bottomTop}" width="${gw}" height="${bottomH}" fill="#fafafa" stroke="#ddd"/>`);
  const gvals = [...engines.flatMap((e) => bases.map((b) => findCell(cells, b, 'trivial', e.id)?.wall.median)), ...bases.map((b) => findCell(cells, b, null, 'tar-xzf')?.wall.median)]
    .filter((v): v is number => v !== undefined && Number.isFinite(v) && v > 0);
  const glo = Math.pow(10, Math.floor(Math.log10(Math.max(0.01, Math.min(...gvals, 1)))));
  const ghi = Math.pow(10, Math.ceil(Math.log10(Math.max(...gvals, 1) * 1.05)));
  const gy = (s: number) => bottomTop + bottomH - ((Math.log10(s) - Math.log10(glo)) / (Math.log10(ghi) - Math.log10(glo))) * bottomH;
  const gxb = (i: number) => gx0 + 60 + (i * (gw - 120)) / Math.max(1, bases.length - 1);
  for (let t = glo; t <= ghi * 1.001; t *= 10) {
    for (const tt of [t, t * 3]) {
      if (tt > ghi) continue;
      out.push(`<line x1="${gx0}" y1="${gy(tt)}" x2="${gx0 + gw}" y2="${gy(tt)}" stroke="#e3e3e3"/><text x="${gx0 - 6}" y="${gy(tt) + 4}" font-size="10" text-anchor="end" fill="#555">${fmtAxis(tt)}</text>`);
    }
  }
  bases.forEach((b, i) => out.push(`<text x="${gxb(i)}" y="${bottomTop + bottomH + 16}" font-size="11" text-anchor="middle">${esc(b)}</text>`));
  for (const e of engines) {
    const pts = bases.map((b, i) => [i, findCell(cells, b, 'trivial', e.id)?.wall.median] as const).filter(([, v]) => v !== undefined && Number.isFinite(v)) as Array<readonly [number, number]>;
    if (pts.length === 0) continue;
    const col = COLORS[e.id] ?? '#999';
    out.push(`<polyline fill="none" stroke="${col}" stroke-width="2" points="${pts.map(([i, v]) => `${gxb(i)},${gy(v)}`).join(' ')}"/>`);
    for (const [i, v] of pts) out.push(`<circle cx="${gxb(i)}" cy="${gy(v)}" r="3.5" fill="${col}"/>`);
  }
  const tarPts = bases.map((b, i) => [i, findCell(cells, b, null, 'tar-xzf')?.wall.median] as const).filter(([, v]) => v !== undefined && Number.isFinite(v)) as Array<readonly [number, number]>;
  if (tarPts.length > 0) {
    out.push(`<polyline fill="none" stroke="#444" stroke-width="1.5" stroke-dasharray="4 3" points="${tarPts.map(([i, v]) => `${gxb(i)},${gy(v)}`).join(' ')}"/>`);
    const [li, lv] = tarPts[tarPts.length - 1]!;
    out.push(`<text x="${gxb(li) + 6}" y="${gy(lv) + 12}" font-size="10" fill="#444">tar -xzf</text>`);
  }
  // Direct labels at the right end of each line (the colours are the legend's at the top).
  const ends = engines.map((e) => {
    const pts = bases.map((b, i) => [i, findCell(cells, b, 'trivial', e.id)?.wall.median] as const).filter(([, v]) => v !== undefined && Number.isFinite(v)) as Array<readonly [number, number]>;
    return pts.length > 0 ? ([e, pts[pts.length - 1]!] as const) : null;
  }).filter((x): x is NonNullable<typeof x> => x !== null).sort((a, b) => gy(a[1][1]) - gy(b[1][1]));
  let lastY = -Infinity;
  for (const [e, [i, v]] of ends) {
    const yy = Math.max(gy(v) + 3, lastY + 10);
    lastY = yy;
    out.push(`<text x="${gxb(i) + 8}" y="${yy}" font-size="9" fill="${COLORS[e.id] ?? '#999'}">${esc(e.label)}</text>`);
  }

  // Warm trivial breakdown.
  const bx0 = 820;
  const bw = W - bx0 - 40;
  out.push(`<text x="${bx0 - 110}" y="${bottomTop - 18}" font-size="14" font-weight="bold">Where a warm trivial extend spends its time (cnbx overlay warm, medians)</text>`);
  const rows = bases.map((b) => {
    const samples = r.samples.filter((s) => s.base === b && s.scenario === 'trivial' && s.subject === 'cnbx-overlay-warm' && s.ok && s.trace);
    const parts = samples.map(breakdown).filter((x): x is Record<Phase, number> => x !== null);
    return [b, parts.length > 0 ? (Object.fromEntries(PHASES.map((ph) => [ph, median(parts.map((q) => q[ph]))])) as Record<Phase, number>) : null] as const;
  });
  const maxMs = Math.max(1000, ...rows.map(([, v]) => (v ? PHASES.reduce((n, ph) => n + v[ph], 0) : 0)));
  const bxs = (ms: number) => (ms / maxMs) * (bw - 20);
  rows.forEach(([b, v], i) => {
    const y = bottomTop + 10 + i * 40;
    out.push(`<text x="${bx0 - 6}" y="${y + 16}" font-size="11" text-anchor="end">${esc(b)}</text>`);
    if (!v) {
      out.push(`<text x="${bx0}" y="${y + 16}" font-size="10" fill="#888">no traced runs</text>`);
      return;
    }
    let acc = 0;
    PHASES.forEach((ph, pi) => {
      const w = bxs(v[ph]);
      if (w > 0.2) out.push(`<rect x="${bx0 + bxs(acc)}" y="${y}" width="${w}" height="22" fill="${PHASE_COLORS[pi]}"><title>${esc(ph)}: ${v[ph].toFixed(0)} ms</title></rect>`);
      acc += v[ph];
    });
    out.push(`<text x="${bx0 + bxs(acc) + 4}" y="${y + 15}" font-size="10">${(acc / 1000).toFixed(2)} s</text>`);
  });
  for (let t = 0; t <= maxMs; t += maxMs > 3000 ? 1000 : 250) {
    const tx = bx0 + bxs(t);
    out.push(`<line x1="${tx}" y1="${bottomTop + 4}" x2="${tx}" y2="${bottomTop + 10 + rows.length * 40}" stroke="#e3e3e3"/><text x="${tx}" y="${bottomTop + 24 + rows.length * 40}" font-size="9" text-anchor="middle" fill="#555">${t} ms</text>`);
  }
  if (maxMs >= 1000) {
    const tx = bx0 + bxs(1000);
    out.push(`<line x1="${tx}" y1="${bottomTop + 4}" x2="${tx}" y2="${bottomTop + 10 + rows.length * 40}" stroke="#c00" stroke-dasharray="3 3"/><text x="${tx + 3}" y="${bottomTop + 2}" font-size="9" fill="#c00">1 s target</text>`);
  }
  PHASES.forEach((ph, pi) => {
    const lx = bx0 + (pi % 3) * 210;
    const ly = bottomTop + 50 + rows.length * 40 + Math.floor(pi / 3) * 16;
    out.push(`<rect x="${lx}" y="${ly}" width="12" height="10" fill="${PHASE_COLORS[pi]}"/><text x="${lx + 16}" y="${ly + 9}" font-size="10">${esc(ph)}</text>`);
  });

  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
