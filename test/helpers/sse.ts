import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { waitFor } from './sidecar.ts';

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** A real SSE client over fetch, parsing with eventsource-parser, recording every event. */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  /** The stream's bytes as they came, for tests of what exactly was sent. */
  readonly raw: Uint8Array[] = [];
  response!: Response;
  ended = false;
  error: unknown;
  readonly #abort = new AbortController();

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const c = new SseClient();
    c.response = await fetch(url, {
      headers: { Accept: 'text/event-stream', ...headers },
      signal: c.#abort.signal,
    });
    if (c.response.ok && c.response.body) c.#pump(c.response.body);
    return c;
  }

  async #pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const parser = createParser({
      onEvent: (e: EventSourceMessage) =>
        this.events.push({ id: e.id, event: e.event ?? 'message', data: e.data }),
      onComment: (c) => this.comments.push(c),
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) {
        this.raw.push(chunk);
        parser.feed(decoder.decode(chunk, { stream: true }));
      }
    } catch (err) {
      this.error = err;
    }
    this.ended = true;
  }

  messages(): SseEvent[] {
    return this.events.filter((e) => e.event === 'message' || e.event === 'binary');
  }

  data(): string[] {
    return this.messages().map((e) => e.data);
  }

  async waitForMessages(n: number, ms = 5000): Promise<SseEvent[]> {
    await waitFor(
      () => this.messages().length >= n,
      ms,
      `${n} SSE messages (have ${this.messages().length})`,
    );
    return this.messages();
  }

  async waitForEvent(type: string, ms = 5000): Promise<SseEvent> {
    return (await waitFor(
      () => this.events.find((e) => e.event === type),
      ms,
      `an SSE ${type} event`,
    )) as SseEvent;
  }

  async waitEnded(ms = 5000): Promise<void> {
    await waitFor(() => this.ended, ms, 'the stream to end');
  }

  close(): void {
    this.#abort.abort();
  }
}
