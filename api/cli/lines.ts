import { concatBytes } from '../../shared/bytes.ts';
import { MessageTooLargeError } from '../../shared/errors.ts';

/** Longest stdin line `send` holds while looking for its end (the largest maxMessageBytes). */
export const MAX_STDIN_LINE_BYTES = 64 * 1024 * 1024;

const LF = 10;
const CR = 13;

/**
 * The lines of a byte stream as line framing sees them: only LF ends a line, and a CR right
 * before it is dropped. A lone CR is part of the line (node:readline would end a line there).
 * The last line needs no LF.
 */
export async function* splitLines(
  input: AsyncIterable<Uint8Array>,
  maxLineBytes = MAX_STDIN_LINE_BYTES,
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let held: Uint8Array[] = [];
  let heldBytes = 0;
  const take = (tail: Uint8Array): string => {
    const line = concatBytes([...held, tail]);
    held = [];
    heldBytes = 0;
    const total = line.byteLength;
    const end = total > 0 && line[total - 1] === CR ? total - 1 : total;
    return decoder.decode(line.subarray(0, end));
  };
  for await (const chunk of input) {
    let start = 0;
    for (let lf = chunk.indexOf(LF); lf >= 0; lf = chunk.indexOf(LF, start)) {
      yield take(chunk.subarray(start, lf));
      start = lf + 1;
    }
    if (start < chunk.byteLength) {
      heldBytes += chunk.byteLength - start;
      if (heldBytes > maxLineBytes) throw new MessageTooLargeError(maxLineBytes, 'line');
      held.push(chunk.slice(start));
    }
  }
  if (heldBytes > 0) yield take(new Uint8Array(0));
}
