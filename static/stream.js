// stream.js: show a streamed answer safely, as it grows.
//
// Drop it into any page (with allowlist.js beside it):
//
//   import { createAnswer, follow } from "/static/stream.js";
//   const answer = createAnswer(document.querySelector("#answer"));
//   follow("/api/streams/ID/events", { onEvent: answer.onEvent });
//
// Safety: an HTML string reaches the DOM in exactly one place, `parseFragment`:
// it is parsed in an inert <template> (no script runs, nothing loads),
// checked again against the server's allowlist, and only then are its nodes
// appended. Committed nodes are never touched again, so text stays
// selectable while the answer streams; only the tail changes.

import { ATTRIBUTES, ATTRIBUTE_VALUES, DROP_CONTENT_TAGS, TAGS, URL_SCHEMES } from "./allowlist.js";

/** @typedef {{event: string, data: string, id?: string | null}} StreamEvent */
/** @typedef {"connecting" | "generating" | "reconnecting" | "done" | "cancelled" | "error"} Status */

const VOID = new Set(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"]);
const WHITESPACE = /^[ \t\n\f\r]*$/;
const END_TAG = /^<\/([A-Za-z][A-Za-z0-9]*)>/;

/**
 * allowlist.js as one lookup per element: attribute -> its URL schemes and
 * value pattern (a highlighted code block has thousands of spans to check).
 * @type {Map<string, Map<string, {schemes?: Set<string>, pattern?: RegExp}>>}
 */
const ATTRIBUTE_RULES = new Map(
  Object.entries(ATTRIBUTES).map(([tag, names]) => [
    tag,
    new Map(
      [...names].map((attribute) => {
        const key = `${tag} ${attribute}`;
        return [
          attribute,
          {
            schemes: URL_SCHEMES[/** @type {keyof typeof URL_SCHEMES} */ (key)],
            pattern: ATTRIBUTE_VALUES[/** @type {keyof typeof ATTRIBUTE_VALUES} */ (key)],
          },
        ];
      }),
    ),
  ]),
);

/** @type {{createHTML(s: string): any} | null | undefined} */
let trustedPolicy;

/** The one Trusted Types policy: it only lets HTML into an inert template. */
function trusted(/** @type {string} */ html) {
  if (trustedPolicy === undefined) {
    const tt = /** @type {any} */ (globalThis).trustedTypes;
    trustedPolicy = tt ? tt.createPolicy("renderer-stream", { createHTML: (/** @type {string} */ s) => s }) : null;
  }
  return trustedPolicy ? trustedPolicy.createHTML(html) : html;
}

/**
 * Parse sanitized HTML into nodes, re-checking it against the allowlist.
 * What the check removes is reported (it means the server let it through).
 * @param {string} html
 * @param {(problem: string) => void} [onViolation]
 * @returns {DocumentFragment}
 */
export function parseFragment(html, onViolation = () => {}) {
  const template = document.createElement("template");
  template.innerHTML = trusted(html); // inert: template content is not rendered, runs nothing, loads nothing
  scrub(template.content, onViolation);
  return template.content;
}

/** Whether a URL attribute value is allowed, as the browser's URL parser reads it. */
export function allowedUrl(/** @type {string} */ value, /** @type {Set<string>} */ schemes) {
  let url;
  try {
    url = new URL(value, "https://relative.invalid/");
  } catch {
    return false;
  }
  if (url.origin === "https://relative.invalid") return true;
  return schemes.has(url.protocol.slice(0, -1));
}

/** Remove from a fragment what the allowlist does not allow. */
function scrub(/** @type {DocumentFragment} */ root, /** @type {(p: string) => void} */ report) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_COMMENT | NodeFilter.SHOW_PROCESSING_INSTRUCTION);
  /** @type {Node[]} */
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const node of nodes) {
    if (!(node instanceof Element)) {
      node.parentNode?.removeChild(node);
      report("comment");
      continue;
    }
    const name = node.localName;
    if (node.namespaceURI !== "http://www.w3.org/1999/xhtml" || !TAGS.has(name)) {
      report(`<${name}>`);
      if (DROP_CONTENT_TAGS.has(name) || node.namespaceURI !== "http://www.w3.org/1999/xhtml") node.remove();
      else node.replaceWith(...node.childNodes);
      continue;
    }
    if (!node.hasAttributes()) continue;
    const rules = ATTRIBUTE_RULES.get(name);
    for (const attribute of [...node.attributes]) {
      const rule = rules?.get(attribute.name);
      const ok =
        rule !== undefined &&
        (!rule.schemes || allowedUrl(attribute.value, rule.schemes)) &&
        (!rule.pattern || rule.pattern.test(attribute.value));
      if (!ok) {
        node.removeAttribute(attribute.name);
        report(`<${name} ${attribute.name}>`);
      }
    }
  }
}

/** The element an `append` adds to: the tail's innermost last open element. */
function insertionPoint(/** @type {Element} */ container) {
  /** @type {Element} */
  let node = container;
  for (;;) {
    let last = node.lastChild;
    while (last && last.nodeType === Node.TEXT_NODE && WHITESPACE.test(/** @type {Text} */ (last).data)) {
      last = last.previousSibling;
    }
    if (!(last instanceof Element) || VOID.has(last.localName)) return node;
    node = last;
  }
}

/**
 * One answer on the page: committed nodes, then the tail.
 * @param {Element} root where the answer goes (its content is replaced)
 * @param {{onViolation?: (problem: string) => void}} [options]
 */
export function createAnswer(root, { onViolation } = {}) {
  const committed = document.createElement("div");
  committed.className = "answer-committed";
  const tail = document.createElement("div");
  tail.className = "answer-tail";
  root.replaceChildren(committed, tail);
  const parse = (/** @type {string} */ html) => parseFragment(html, onViolation);

  /** Insert html before the tail's trailing end tags (see renderer/ops.py). */
  function append(/** @type {string} */ html) {
    let target = insertionPoint(tail);
    let rest = html;
    for (let match = END_TAG.exec(rest); match; match = END_TAG.exec(rest)) {
      if (target === tail || target.localName !== match[1].toLowerCase()) {
        throw new Error(`append does not fit the tail: ${match[0]}`);
      }
      target = /** @type {Element} */ (target.parentNode);
      rest = rest.slice(match[0].length);
      const space = /^[ \t\n\f\r]*/.exec(rest)?.[0] ?? "";
      if (!rest.startsWith("</", space.length)) break;
      if (space) target.append(space);
      rest = rest.slice(space.length);
    }
    target.append(parse(rest));
  }

  /** Apply one op (an SSE event of the same name). */
  function apply(/** @type {string} */ kind, /** @type {string} */ html) {
    switch (kind) {
      case "block":
        committed.append(parse(html));
        break;
      case "tail":
        tail.replaceChildren(parse(html));
        break;
      case "append":
        append(html);
        break;
      case "commit":
        committed.append(...tail.childNodes);
        break;
      case "replace":
        committed.replaceChildren(parse(html));
        tail.replaceChildren();
        break;
      default:
        return false;
    }
    return true;
  }

  return {
    root,
    committed,
    tail,
    apply,
    /** Feed a stream event; returns whether it changed the answer. */
    onEvent: (/** @type {StreamEvent} */ event) => apply(event.event, event.data),
  };
}

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

const STREAM_EVENTS = ["block", "tail", "append", "commit", "replace", "error", "done"];

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
 * @returns {{close(): void, readonly id: string | null}}
 */
export function follow(url, { onEvent, onStatus = () => {}, post, fetch: useFetch = false, retryMs = 1000, maxRetries = 20 }) {
  let closed = false;
  let finished = false;
  let streamId = /** @type {string | null} */ (null);
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
      onStatus(reason === "complete" ? "done" : reason === "cancelled" ? "cancelled" : "error");
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
  };
}
