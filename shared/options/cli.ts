import { DEFAULT_URL } from '../client/http.ts';
import { parseEnum, parseString, parseUrl } from './parse.ts';
import { type OptionSpec, optionSpec } from './resolve.ts';

/** Options of the client commands (`tail`, `send`, `groups`); `serve` uses SIDECAR_OPTIONS. */

export { DEFAULT_URL };
export const OUTPUT_FORMATS = ['text', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
export const DEFAULT_FORMAT: OutputFormat = 'text';
export const TAIL_STARTS = ['live', 'earliest'] as const;
export const DEFAULT_TAIL_FROM = 'live';

export interface CliOptions {
  url: string;
  token: string | null;
  format: OutputFormat;
  from: (typeof TAIL_STARTS)[number];
  lastEventId: string | null;
}

const spec = optionSpec<keyof CliOptions>;

export const CLI_URL = spec(
  'url',
  'URL',
  DEFAULT_URL,
  'base URL of the groupcast HTTP API (a sidecar or an edge worker)',
  (r) => parseUrl(r, ['http', 'https']),
);
export const CLI_TOKEN = spec(
  'token',
  'TOKEN',
  null,
  'bearer token sent with every request (when the server has auth on)',
  (r) => parseString(r),
  { defaultDoc: 'none' },
);
export const CLI_FORMAT = spec(
  'format',
  'FORMAT',
  DEFAULT_FORMAT,
  'output: text (for people) or json (one JSON object a line, for scripts)',
  (r) => parseEnum(r, OUTPUT_FORMATS),
);
export const CLI_FROM = spec(
  'from',
  'TAIL_FROM',
  DEFAULT_TAIL_FROM,
  'tail: live (only new messages) or earliest (everything the server still holds first)',
  (r) => parseEnum(r, TAIL_STARTS),
);
export const CLI_LAST_EVENT_ID = spec(
  'lastEventId',
  'LAST_EVENT_ID',
  null,
  'tail: resume after this message id (overrides --from)',
  (r) => parseString(r),
  { defaultDoc: 'none' },
);

/** Every client-command option, for docs and --help. */
export const CLI_OPTIONS: readonly OptionSpec[] = [
  CLI_URL,
  CLI_TOKEN,
  CLI_FORMAT,
  CLI_FROM,
  CLI_LAST_EVENT_ID,
];
