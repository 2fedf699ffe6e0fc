// Server-sent events over fetch (EventSource cannot send the Authorization header), resumed after the last id.
import { ApiError, authHeaders } from "./api.js";

// The server-sent events of a response body: (name, data) to onEvent, until the body ends.
export async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (let cut = buffer.indexOf("\n\n"); cut >= 0; cut = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trim());
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

// Server-sent events over fetch, so the Authorization header goes with them (EventSource cannot send it).
export async function streamEvents(path, onEvent, signal) {
  let lastId = null;
  while (!signal.aborted) {
    try {
      const headers = { ...authHeaders(), Accept: "text/event-stream", ...(lastId ? { "Last-Event-ID": lastId } : {}) };
      const response = await fetch(`/api/v1${path}`, { headers, signal });
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
      let ended = false;
      await readEvents(response, (name, data) => {
        if (ended) return;
        if (data.event_type === "end" || name === "end") {
          ended = true;
          return;
        }
        if (data.id !== undefined) lastId = String(data.id);
        onEvent(data);
      });
      if (ended) return;
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status < 500) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
