import { describe, expect, it } from 'vitest';
import { FlagSet, parseGoBool, parseGoInt } from '../../src/cli/flags.js';
import { formatGoDuration, parseGoDuration } from '../../src/cli/flags-duration.js';

function make() {
  const fs = new FlagSet('extender');
  const v = {
    kind: fs.string('kind', 'build', 'kind of image to extend'),
    app: fs.string('app', '/workspace', 'path to app directory'),
    uid: fs.int('uid', 0, 'UID of user'),
    noColor: fs.bool('no-color', false, 'disable color output'),
    ttl: fs.duration('kaniko-cache-ttl', 336n * 3600n * 1_000_000_000n, 'kaniko cache time-to-live'),
  };
  return { fs, v };
}

// Each row: argv → expected outcome and values (the semantics of Go's flag package).
const table: {
  argv: string[];
  outcome: 'ok' | 'help' | string;
  args?: string[];
  kind?: string;
  app?: string;
  uid?: number;
  noColor?: boolean;
  ttl?: bigint;
}[] = [
  { argv: [], outcome: 'ok', args: [], kind: 'build', uid: 0, noColor: false },
  { argv: ['-kind', 'run'], outcome: 'ok', args: [], kind: 'run' },
  { argv: ['-kind=run'], outcome: 'ok', kind: 'run' },
  { argv: ['--kind', 'run'], outcome: 'ok', kind: 'run' },
  { argv: ['--kind=run'], outcome: 'ok', kind: 'run' },
  { argv: ['-kind='], outcome: 'ok', kind: '' },
  { argv: ['-kind', '-app'], outcome: 'ok', kind: '-app', app: '/workspace' },
  { argv: ['-app=a=b'], outcome: 'ok', app: 'a=b' },
  { argv: ['-no-color'], outcome: 'ok', noColor: true },
  { argv: ['-no-color=false'], outcome: 'ok', noColor: false },
  { argv: ['-no-color=T'], outcome: 'ok', noColor: true },
  { argv: ['-no-color', 'false'], outcome: 'ok', noColor: true, args: ['false'] },
  { argv: ['-no-color=maybe'], outcome: 'invalid boolean value "maybe" for -no-color: parse error' },
  { argv: ['-uid', '1234'], outcome: 'ok', uid: 1234 },
  { argv: ['-uid=0x10'], outcome: 'ok', uid: 16 },
  { argv: ['-uid=0755'], outcome: 'ok', uid: 493 },
  { argv: ['-uid=1_000'], outcome: 'ok', uid: 1000 },
  { argv: ['-uid=-5'], outcome: 'ok', uid: -5 },
  { argv: ['-uid', 'abc'], outcome: 'invalid value "abc" for flag -uid: parse error' },
  { argv: ['-uid=9223372036854775808'], outcome: 'invalid value "9223372036854775808" for flag -uid: value out of range' },
  { argv: ['-uid'], outcome: 'flag needs an argument: -uid' },
  { argv: ['-kaniko-cache-ttl', '1h30m'], outcome: 'ok', ttl: 5400n * 1_000_000_000n },
  { argv: ['-kaniko-cache-ttl=14d'], outcome: 'invalid value "14d" for flag -kaniko-cache-ttl: parse error' },
  { argv: ['-unknown'], outcome: 'flag provided but not defined: -unknown' },
  { argv: ['--unknown=1'], outcome: 'flag provided but not defined: -unknown' },
  { argv: ['---kind'], outcome: 'bad flag syntax: ---kind' },
  { argv: ['-=x'], outcome: 'bad flag syntax: -=x' },
  { argv: ['-h'], outcome: 'help' },
  { argv: ['-help'], outcome: 'help' },
  { argv: ['--help'], outcome: 'help' },
  { argv: ['-kind', 'run', 'pos', '-app', '/x'], outcome: 'ok', kind: 'run', app: '/workspace', args: ['pos', '-app', '/x'] },
  { argv: ['--', '-kind', 'run'], outcome: 'ok', kind: 'build', args: ['-kind', 'run'] },
  { argv: ['-', '-kind', 'run'], outcome: 'ok', kind: 'build', args: ['-', '-kind', 'run'] },
  { argv: ['-kind', 'run', '-kind', 'build'], outcome: 'ok', kind: 'build' },
];

describe('FlagSet (Go flag semantics)', () => {
  for (const row of table) {
    it(`${JSON.stringify(row.argv)} → ${row.outcome}`, () => {
      const { fs, v } = make();
      const r = fs.parse(row.argv);
      if (row.outcome === 'ok') {
        expect(r).toEqual({ kind: 'ok', args: row.args ?? [] });
      } else if (row.outcome === 'help') {
        expect(r).toEqual({ kind: 'help' });
      } else {
        expect(r).toEqual({ kind: 'error', message: row.outcome });
      }
      if (row.kind !== undefined) expect(v.kind.value).toBe(row.kind);
      if (row.app !== undefined) expect(v.app.value).toBe(row.app);
      if (row.uid !== undefined) expect(v.uid.value).toBe(row.uid);
      if (row.noColor !== undefined) expect(v.noColor.value).toBe(row.noColor);
      if (row.ttl !== undefined) expect(v.ttl.value).toBe(row.ttl);
    });
  }

  it('records which flags were given', () => {
    const { fs } = make();
    fs.parse(['-kind', 'run', '-no-color']);
    expect(fs.isSet('kind')).toBe(true);
    expect(fs.isSet('no-color')).toBe(true);
    expect(fs.isSet('app')).toBe(false);
  });

  it('a -help flag that is defined is an ordinary flag', () => {
    const fs = new FlagSet('x');
    const h = fs.bool('help', false, 'help');
    expect(fs.parse(['-help'])).toEqual({ kind: 'ok', args: [] });
    expect(h.value).toBe(true);
  });

  it('prints usage in the layout of Go PrintDefaults, sorted, with non-zero defaults', () => {
    const { fs } = make();
    expect(fs.usage()).toBe(
      [
        'Usage of extender:',
        '  -app string',
        '    \tpath to app directory (default "/workspace")',
        '  -kaniko-cache-ttl duration',
        '    \tkaniko cache time-to-live (default 336h0m0s)',
        '  -kind string',
        '    \tkind of image to extend (default "build")',
        '  -no-color',
        '    \tdisable color output',
        '  -uid int',
        '    \tUID of user',
        '',
      ].join('\n'),
    );
  });

  it('rejects redefinition', () => {
    const fs = new FlagSet('x');
    fs.string('a', '', '');
    expect(() => fs.string('a', '', '')).toThrow(/redefined/);
  });
});

describe('strconv equivalents', () => {
  it('ParseBool', () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(parseGoBool(t)).toBe(true);
    for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(parseGoBool(f)).toBe(false);
    for (const bad of ['', 'yes', 'tRUE', ' true']) expect(() => parseGoBool(bad)).toThrow('parse error');
  });

  it('ParseInt base 0', () => {
    const ok: [string, number][] = [['0', 0], ['42', 42], ['+7', 7], ['-0x1F', -31], ['0b101', 5], ['0o17', 15], ['017', 15], ['0x_1f', 31], ['1_2_3', 123]];
    for (const [s, n] of ok) expect(parseGoInt(s)).toBe(n);
    for (const bad of ['', '08', '1__0', '_1', '1_', '0x', '1.5', ' 1', '1e3']) expect(() => parseGoInt(bad), bad).toThrow();
  });
});

describe('Go durations', () => {
  const NS = 1_000_000_000n;
  it('parses what time.ParseDuration accepts', () => {
    const ok: [string, bigint][] = [
      ['0', 0n],
      ['336h', 336n * 3600n * NS],
      ['1h30m', 5400n * NS],
      ['1.5s', 1_500_000_000n],
      ['.5s', 500_000_000n],
      ['1.s', NS],
      ['300ms', 300_000_000n],
      ['10us', 10_000n],
      ['10µs', 10_000n],
      ['10μs', 10_000n],
      ['7ns', 7n],
      ['-2m', -120n * NS],
      ['+2m3s', 123n * NS],
    ];
    for (const [s, v] of ok) expect(parseGoDuration(s), s).toBe(v);
  });

  it('rejects what time.ParseDuration rejects', () => {
    for (const bad of ['', '1', '14d', 'h', '.s', '1.5', '-', '1h 2m', '99999999999999999999h']) {
      expect(() => parseGoDuration(bad), bad).toThrow(/^time: /);
    }
  });

  it('formats like Duration.String', () => {
    const cases: [bigint, string][] = [
      [0n, '0s'],
      [336n * 3600n * NS, '336h0m0s'],
      [5400n * NS, '1h30m0s'],
      [1_500_000_000n, '1.5s'],
      [300_000_000n, '300ms'],
      [1_500n, '1.5µs'],
      [7n, '7ns'],
      [-61n * NS, '-1m1s'],
    ];
    for (const [v, s] of cases) expect(formatGoDuration(v)).toBe(s);
  });
});
