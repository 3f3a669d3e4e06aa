// transport.js: an answer's events from the server, until `done`.
//
// Framing apart from transport: `createParser` turns bytes into events
// (Server-Sent Events, as the WHATWG spec reads them); `follow` connects
// (EventSource, or fetch for POST and headers), resumes after drops from the
// last event id, and hands each event to the sink it is given.

/** @typedef {{event: string, data: string, id?: string | null}} StreamEvent */
/** @typedef {"connecting" | "generating" | "reconnecting" | "done" | "cancelled" | "error"} Status */

/**
 * A WHATWG-conformant Server-Sent Events parser for fetch streams.
 * @param {(event: StreamEvent) => void} onEvent
 */
export function createParser(onEvent) {
  const decoder = new TextDecoder();
  let buffer = "";
  let started = false;
  let pendingCR = false;
  let data = /** @type {string[] | null} */ (null);
  let eventName = "";
  let lastId = /** @type {string | null} */ (null);

  function line(/** @type {string} */ text) {
    if (text === "") {
      if (data !== null) onEvent({ event: eventName || "message", data: data.join("\n"), id: lastId });
      data = null;
      eventName = "";
      return;
    }
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") (data ??= []).push(value);
    else if (field === "event") eventName = value;
    else if (field === "id" && !value.includes("\0")) lastId = value;
  }

  return {
    /** @param {Uint8Array} chunk */
    feed(chunk) {
      buffer += decoder.decode(chunk, { stream: true });
      if (!started && buffer.length) {
        if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
        started = true;
      }
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer[i];
        if (c === "\n" && pendingCR) {
          pendingCR = false;
          start = i + 1;
          continue;
        }
        pendingCR = false;
        if (c === "\r" || c === "\n") {
          line(buffer.slice(start, i));
          pendingCR = c === "\r";
          start = i + 1;
        }
      }
      buffer = buffer.slice(start);
    },
    get lastEventId() {
      return lastId;
    },
  };
}

const STREAM_EVENTS = ["block", "tail", "append", "commit", "replace", "part", "error", "done"];

/**
 * Follow an answer's events until `done`, resuming after drops without
 * showing anything twice. EventSource by default; `post` (a JSON body) or
 * `fetch: true` read the stream with fetch instead, which can POST and set
 * headers, and resume by GET from the last event id.
 * @param {string} url an events URL (GET) or /api/chat (with `post`)
 * @param {{
 *   onEvent: (event: StreamEvent) => void,
 *   onStatus?: (status: Status, detail?: string) => void,
 *   post?: unknown,
 *   fetch?: boolean,
 *   retryMs?: number,
 *   maxRetries?: number,
 * }} options
 * @returns {{close(): void, readonly id: string | null, readonly conversation: string | null}}
 */
export function follow(url, { onEvent, onStatus = () => {}, post, fetch: useFetch = false, retryMs = 1000, maxRetries = 20 }) {
  let closed = false;
  let finished = false;
  let streamId = /** @type {string | null} */ (null);
  let conversationId = /** @type {string | null} */ (null);
  let lastId = /** @type {string | null} */ (null);
  /** @type {EventSource | null} */
  let source = null;
  // One controller per fetch attempt: an aborted signal stays aborted, so a
  // shared one would make every later attempt fail at once.
  let controller = new AbortController();
  // Set when an event did not fit: the rest of that connection's events
  // (the rest of a fetched chunk, say) must not be applied, nor their ids
  // taken as the resume point; cleared when the next connection starts.
  let stale = false;

  function handle(/** @type {StreamEvent} */ event) {
    if (closed || stale) return;
    if (event.event === "done") {
      finished = true;
      let reason = "complete";
      try {
        reason = JSON.parse(event.data).reason ?? reason;
      } catch {}
      onEvent(event);
      // length, tool_calls, content_filter: the answer is over, as the model ended it.
      if (reason === "cancelled" || reason === "error") onStatus(reason);
      else onStatus("done", reason);
      stop();
      return;
    }
    if (event.event === "error") {
      let message = "error";
      try {
        message = JSON.parse(event.data).message ?? message;
      } catch {}
      onStatus("error", message);
    }
    try {
      onEvent(event);
    } catch (error) {
      // The tail is out of step (it should not happen): resume, which resends it.
      stale = true;
      onStatus("reconnecting", String(error));
      if (source) {
        source.close();
        viaEventSource(withLastId(url));
      } else {
        controller.abort();
      }
      return;
    }
    if (event.id) lastId = event.id;
  }

  function withLastId(/** @type {string} */ target) {
    if (!lastId) return target;
    return `${target}${target.includes("?") ? "&" : "?"}lastEventId=${encodeURIComponent(lastId)}`;
  }

  function stop() {
    closed = true;
    source?.close();
    controller.abort();
  }

  function viaEventSource(/** @type {string} */ target) {
    stale = false;
    source = new EventSource(target);
    source.onopen = () => onStatus("generating");
    source.onerror = () => {
      if (!finished && !closed) onStatus(source?.readyState === EventSource.CLOSED ? "error" : "reconnecting");
    };
    for (const name of STREAM_EVENTS) {
      source.addEventListener(name, (message) => {
        if (!(message instanceof MessageEvent)) return; // the connection's own "error"
        handle({ event: name, data: message.data, id: message.lastEventId });
      });
    }
  }

  async function viaFetch() {
    for (let attempt = 0; attempt <= maxRetries && !closed; attempt++) {
      const parser = createParser(handle);
      const first = attempt === 0 && post !== undefined;
      if (!first && post !== undefined && !streamId) {
        // The POST failed before its headers: there is nothing to resume, and
        // POSTing again would start another answer.
        onStatus("error", "the connection failed before the answer started");
        return;
      }
      controller = new AbortController();
      stale = false;
      try {
        const target = first ? url : eventsUrl();
        /** @type {Record<string, string>} */
        const headers = { Accept: "text/event-stream" };
        if (first) headers["Content-Type"] = "application/json";
        if (lastId) headers["Last-Event-ID"] = lastId;
        const response = await fetch(target, {
          method: first ? "POST" : "GET",
          headers,
          body: first ? JSON.stringify(post) : undefined,
          signal: controller.signal,
          cache: "no-store",
        });
        streamId = response.headers.get("X-Stream-Id") ?? streamId;
        conversationId = response.headers.get("X-Conversation-Id") ?? conversationId;
        if (response.status === 204) {
          finished = true;
          return;
        }
        if (!response.ok || !response.body) {
          let message = `HTTP ${response.status}`;
          try {
            message = (await response.json()).error ?? message;
          } catch {}
          onStatus("error", message);
          return;
        }
        onStatus("generating");
        const reader = response.body.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
      } catch (error) {
        if (closed) return;
      }
      if (finished || closed) return;
      onStatus("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
    if (!finished && !closed) onStatus("error", "the connection keeps dropping");
  }

  function eventsUrl() {
    if (post === undefined) return url;
    if (!streamId) throw new Error("no stream id to resume");
    return `/api/streams/${encodeURIComponent(streamId)}/events`;
  }

  onStatus("connecting");
  if (useFetch || post !== undefined) viaFetch();
  else viaEventSource(url);
  return {
    close: stop,
    get id() {
      return streamId;
    },
    /** The conversation a POST asked in (its X-Conversation-Id), once known. */
    get conversation() {
      return conversationId;
    },
  };
}
