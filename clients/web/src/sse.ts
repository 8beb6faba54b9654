// A server-sent events parser over a fetch body, as the HTML spec reads an event stream:
// lines end in CRLF, LF or CR; `data:` lines of one event are joined with "\n"; a blank
// line dispatches the event; lines starting with ":" are comments.

export interface SseEvent {
  /** `message` unless the event names another (`usage`, `error`). */
  event: string;
  data: string;
}

export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder(); // UTF-8; `stream: true` keeps a character split across chunks
  let buffer = "";
  let event = "";
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return; // an event without its blank line is incomplete: dropped, per spec
      buffer += decoder.decode(value, { stream: true });
      // A trailing CR may be the first half of a CRLF: keep it for the next chunk.
      const lines = buffer.split(/\r\n|\r(?!$)|\n/);
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "") {
          if (data.length > 0) yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
          continue;
        }
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") data.push(value);
        else if (field === "event") event = value;
      }
    }
  } finally {
    await reader.cancel(); // ended, or the consumer stopped early: close the connection
  }
}
