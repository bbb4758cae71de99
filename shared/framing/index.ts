import { lengthFraming } from './length.ts';
import { lineFraming } from './line.ts';
import { rawFraming } from './raw.ts';
import type { Framing, FramingName } from './types.ts';

export type { FrameDecoder, Framing, FramingName } from './types.ts';
export { FRAMINGS } from './types.ts';

const BY_NAME: Record<FramingName, Framing> = {
  line: lineFraming,
  raw: rawFraming,
  length: lengthFraming,
};

export function framing(name: FramingName): Framing {
  return BY_NAME[name];
}
