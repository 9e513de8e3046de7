import { StringDecoder } from 'node:string_decoder';

/** Longest line handed on whole; a longer run without a newline is passed on in pieces, so memory
 *  stays bounded whatever the command prints. */
export const MAX_LINE = 64 * 1024;

/** Splits a byte stream into UTF-8 lines (a trailing "\r" of a CRLF ending is dropped). */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  constructor(private readonly emit: (line: string) => void) {}

  write(chunk: Buffer): void {
    this.partial += this.decoder.write(chunk);
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      this.emit(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    while (this.partial.length > MAX_LINE) {
      this.emit(this.partial.slice(0, MAX_LINE));
      this.partial = this.partial.slice(MAX_LINE);
    }
  }

  /** Emits what is left after the last newline, if anything. */
  end(): void {
    this.partial += this.decoder.end();
    if (this.partial.length > 0) this.emit(this.partial);
    this.partial = '';
  }
}
