/**
 * Pull-style reading of exact byte counts from an async iterable of chunks (a Readable), with
 * memory bounded by the largest chunk plus what the caller asks for at once.
 */
export class ByteSource {
  private readonly it: AsyncIterator<unknown>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private eof = false;

  constructor(src: AsyncIterable<unknown>) {
    this.it = src[Symbol.asyncIterator]();
  }

  /** Pulls chunks until at least n bytes are buffered or the input ends. */
  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.eof) {
      const r = await this.it.next();
      if (r.done) {
        this.eof = true;
        break;
      }
      const v = r.value;
      const b = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v, 'latin1') : Buffer.from(v as Uint8Array);
      if (b.length === 0) continue;
      this.chunks.push(b);
      this.buffered += b.length;
    }
  }

  /** Takes up to n bytes from the buffer (n ≤ buffered). */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length === n) {
      this.chunks.shift();
      this.buffered -= n;
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }

  /** Puts bytes back in front of the input (they are read again next). */
  unread(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.unshift(b);
    this.buffered += b.length;
  }

  /** Reads n bytes; the result is shorter only when the input ended first. */
  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    return this.take(Math.min(n, this.buffered));
  }

  /** Yields the next n bytes in chunks; returns how many were available before the input ended. */
  async *stream(n: number): AsyncGenerator<Buffer, number> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0) await this.fill(1);
      if (this.buffered === 0) return n - left;
      const first = this.chunks[0]!;
      const k = Math.min(first.length, left);
      const b = this.take(k);
      left -= k;
      yield b;
    }
    return n;
  }

  /** Discards n bytes; returns how many were available. */
  async skip(n: number): Promise<number> {
    const g = this.stream(n);
    for (;;) {
      const r = await g.next();
      if (r.done) return r.value;
    }
  }

  /** Reads and drops everything that is left (so a digesting stream upstream sees every byte). */
  async drain(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    while (!this.eof) {
      const r = await this.it.next();
      if (r.done) this.eof = true;
    }
  }

  /** Stops reading early: lets the underlying stream release its resources. */
  async close(): Promise<void> {
    if (!this.eof) {
      this.eof = true;
      await this.it.return?.();
    }
  }
}
