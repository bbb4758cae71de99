import { lengthFraming } from './length.ts';
import { lineFraming } from './line.ts';
import { rawFraming } from './raw.ts';
import { type Alloc, plainAlloc } from './scratch.ts';
import type { Framing, FramingName } from './types.ts';

export type { Alloc } from './scratch.ts';
export type { FrameDecoder, Framing, FramingName } from './types.ts';
export { FRAMINGS } from './types.ts';

const BY_NAME: Record<FramingName, (alloc: Alloc) => Framing> = {
  line: lineFraming,
  raw: rawFraming,
  length: lengthFraming,
};

/** A framing whose new byte arrays come from `alloc` (plain Uint8Arrays by default). */
export function framing(name: FramingName, alloc: Alloc = plainAlloc): Framing {
  return BY_NAME[name](alloc);
}
