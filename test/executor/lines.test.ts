import { describe, expect, it } from 'vitest';
import { LineSplitter, MAX_LINE } from '../../src/executor/lines.js';

function split(chunks: Buffer[]): string[] {
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l));
  for (const c of chunks) s.write(c);
  s.end();
  return out;
}

describe('LineSplitter', () => {
  it('splits on newlines across chunks and keeps a final partial line', () => {
    expect(split([Buffer.from('a\nb'), Buffer.from('c\n\nd')])).toEqual(['a', 'bc', '', 'd']);
    expect(split([Buffer.from('x\n')])).toEqual(['x']);
    expect(split([])).toEqual([]);
  });

  it('drops the \\r of CRLF endings only', () => {
    expect(split([Buffer.from('a\r\nb\rc\n')])).toEqual(['a', 'b\rc']);
  });

  it('decodes UTF-8 characters split between chunks', () => {
    const b = Buffer.from('é☃\n');
    expect(split([b.subarray(0, 1), b.subarray(1, 3), b.subarray(3)])).toEqual(['é☃']);
  });

  it('hands on an endless line in bounded pieces', () => {
    const big = Buffer.alloc(MAX_LINE * 2 + 10, 'x');
    const out = split([big, Buffer.from('\n')]);
    expect(out.map((l) => l.length)).toEqual([MAX_LINE, MAX_LINE, 10]);
  });
});
