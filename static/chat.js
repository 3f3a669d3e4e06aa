// chat.js: the chat page at GET /.
//
// The server keeps the conversation (POST /api/chat with "conversation"):
// the page sends only the new message (or "regenerate", "edit", "continue")
// and never sends earlier answers back; the server builds the history from
// their Markdown source. The page's address names the conversation
// (?c=ID): a reload asks GET /api/conversations/ID and replays every answer
// from its stream, following one still generating. "New chat" starts
// another.
//
// Each answer is one `createParts` (stream.js) fed by one `follow`: by
// default POST /api/chat, then an EventSource on the events URL it returns;
// with `?mode=fetch` in the page's address, one fetch that POSTs and reads
// the answer as SSE in the same response (and resumes by GET after a drop).
// `?source=NAME` preselects a source (also one the picker does not list).
// The source picker and transport label (developer controls) show only
// when the server's default source is demo or echo, or `?source=` is given.
//
// This file never turns a string into HTML: user text goes in with
// textContent, answer HTML only through stream.js (its parseFragment).
//
// Copy buttons: committed nodes are never touched, not even to add a button
// next to a <pre>. Each answer's HTML sits in its own frame with an overlay
// layer on top; a copy button (and the language label) for each <pre> lives
// in that layer, positioned over the block's top right corner (and moved
// when the layout changes). A code block gets them as soon as its fence
// opens, while it still streams in the tail.
//
// Screen readers: each answer's HTML is a polite live region (aria-atomic
// false, additions only), aria-busy while generating. Tails, which are
// replaced at each event, are aria-hidden while the answer streams, so only
// committed blocks are announced, each once; the state line is a status.

import { createParts, follow } from "./stream.js";

/** @typedef {import("./stream.js").StreamEvent} StreamEvent */
/** @typedef {import("./stream.js").Status} Status */

/**
 * One question and its answer on the page.
 * @typedef {{
 *   item: HTMLElement,
 *   article: HTMLElement,
 *   state: HTMLElement,
 *   stopButton: HTMLButtonElement,
 *   frame: HTMLElement,
 *   layer: HTMLElement,
 *   note: HTMLElement,
 *   meta: HTMLElement,
 *   actions: HTMLElement,
 *   body: HTMLElement,
 *   parts: ReturnType<typeof createParts>,
 *   handle: {close(): void, readonly id: string | null, readonly conversation: string | null} | null,
 *   id: string | null,
 *   finished: boolean,
 *   stopping: boolean,
 *   cancelSent: boolean,
 *   error: string,
 *   reason: string,
 *   violations: string[],
 *   copyButtons: Map<Element, HTMLElement[]>,
 *   committedChanged: boolean,
 *   question: string,
 *   kind: string,
 * }} Turn
 */

const params = new URLSearchParams(location.search);
const MODE = params.get("mode") === "fetch" ? "fetch" : "eventsource";
/** Pixels from the bottom within which scrolling down follows the answer again. */
const STICK_GAP = 48;
/** A question longer than this (characters or lines) is collapsed in the transcript. */
const LONG_QUESTION = { chars: 1200, lines: 16 };

/** @type {Record<Status, string>} */
const STATE_TEXT = {
  connecting: "Connecting…",
  generating: "Generating…",
  reconnecting: "Reconnecting…",
  done: "Done",
  cancelled: "Stopped",
  error: "Error",
};
/** How an answer ended, when the model ended it other than by finishing. */
const REASON_TEXT = /** @type {Record<string, string>} */ ({
  length: "Cut at the length limit",
  tool_calls: "Done: the model called a tool",
  content_filter: "Stopped by the content filter",
});
const FINAL = new Set(["done", "cancelled", "error"]);

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const log = $("log");
const turnsList = $("turns");
const form = /** @type {HTMLFormElement} */ ($("composer"));
const textarea = /** @type {HTMLTextAreaElement} */ ($("message"));
const sendButton = /** @type {HTMLButtonElement} */ ($("send"));
const sourceSelect = /** @type {HTMLSelectElement} */ ($("source"));
const latestButton = /** @type {HTMLButtonElement} */ ($("latest"));
const composerNote = $("composer-note");
const counter = $("counter");

/** @type {Turn[]} */
const turns = [];
/** @type {Turn | null} */
let current = null;
let stick = true;
let lastTop = 0;
let frameRequest = 0;
/** @type {string | null} */
let conversationId = params.get("c");
/** The turn being edited (its question is in the composer), or null. */
let editing = /** @type {number | null} */ (null);
let maxMessage = 32_000;

$("mode").textContent = MODE === "fetch" ? "fetch" : "EventSource";
const wanted = params.get("source");
if (wanted) {
  if (![...sourceSelect.options].some((option) => option.value === wanted)) {
    sourceSelect.append(new Option(wanted, wanted));
  }
  sourceSelect.value = wanted;
}

/** A new element with a class. */
function element(/** @type {string} */ tag, /** @type {string} */ className) {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}

function button(/** @type {string} */ className, /** @type {string} */ text, /** @type {() => void} */ onClick) {
  const node = /** @type {HTMLButtonElement} */ (element("button", className));
  node.type = "button";
  node.textContent = text;
  node.addEventListener("click", onClick);
  return node;
}

/** The page's address for the current conversation. */
function remember() {
  const next = new URLSearchParams(location.search);
  if (conversationId) next.set("c", conversationId);
  else next.delete("c");
  const query = next.toString();
  history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}`);
}

/** Add a question and an empty answer to the log. */
function addTurn(/** @type {string} */ question, /** @type {string} */ kind = "ask") {
  const item = element("li", "turn");
  const asked = element("div", "question");
  const text = element("div", "question-text");
  text.textContent = kind === "continue" ? "Continue" : question;
  asked.append(text);
  if (kind === "continue") asked.classList.add("question-continue");
  if (question.length > LONG_QUESTION.chars || question.split("\n").length > LONG_QUESTION.lines) {
    asked.classList.add("collapsed");
    const toggle = button("expand", "Show all", () => {
      const collapsed = asked.classList.toggle("collapsed");
      toggle.textContent = collapsed ? "Show all" : "Show less";
    });
    const size = element("span", "question-size");
    size.textContent = `${question.length.toLocaleString("en")} characters`;
    asked.append(size, toggle);
  }

  const article = element("article", "answer");
  article.setAttribute("aria-label", "Answer");
  const head = element("div", "answer-head");
  const state = element("span", "state");
  state.setAttribute("role", "status");
  const stopButton = button("stop", "Stop", () => stop(turn));
  head.append(state, stopButton);

  const frame = element("div", "answer-frame");
  const body = element("div", "answer-body");
  body.setAttribute("aria-live", "polite");
  body.setAttribute("aria-atomic", "false");
  body.setAttribute("aria-relevant", "additions");
  const layer = element("div", "copy-layer");
  frame.append(body, layer);
  const note = element("p", "answer-note");
  note.hidden = true;
  const foot = element("div", "answer-foot");
  const actions = element("div", "answer-actions");
  const meta = element("span", "answer-meta");
  foot.append(actions, meta);
  article.append(head, frame, note, foot);
  item.append(asked, article);
  turnsList.append(item);
  $("empty").hidden = true;

  /** @type {Turn} */
  const turn = {
    item,
    article,
    state,
    stopButton,
    frame,
    layer,
    note,
    meta,
    actions,
    body,
    parts: createParts(body, {
      onViolation: (problem) => violation(turn, problem),
      onPart: (part) => {
        if (!turn.finished) part.answer.tail.setAttribute("aria-hidden", "true");
      },
    }),
    handle: null,
    id: null,
    finished: false,
    stopping: false,
    cancelSent: false,
    error: "",
    reason: "",
    violations: [],
    copyButtons: new Map(),
    committedChanged: false,
    question,
    kind,
  };
  const edit = button("edit", "Edit", () => startEdit(turn));
  edit.setAttribute("aria-label", "Edit and resend this question");
  asked.append(edit);
  resizeObserver.observe(frame);
  setStatus(turn, "connecting");
  return turn;
}

/** Show a stream status on its answer. */
function setStatus(/** @type {Turn} */ turn, /** @type {Status} */ status, /** @type {string | undefined} */ detail) {
  if (turn.finished) return;
  if (status === "error" && detail) turn.error = detail;
  if (status === "generating" && turn.handle?.id) turn.id ??= turn.handle.id;
  if (status === "generating" && turn.handle?.conversation && !conversationId) {
    conversationId = turn.handle.conversation;
    remember();
  }
  if (status === "generating" && turn === current && editing === null && textarea.dataset.pending === "1") {
    // The answer started: the message is sent, the composer may empty.
    textarea.value = "";
    delete textarea.dataset.pending;
    composerChanged();
  }
  turn.article.dataset.state = status;
  if (status === "done" && detail) turn.reason = detail;
  turn.state.textContent =
    status === "error" && turn.error ? `Error: ${turn.error}` : (REASON_TEXT[turn.reason] ?? STATE_TEXT[status]);
  if (turn.reason) turn.article.dataset.reason = turn.reason;
  const body = turn.body;
  if (!FINAL.has(status)) {
    body.setAttribute("aria-busy", "true");
    if (turn.id) turn.article.dataset.streamId = turn.id;
    if (turn.stopping && turn.id) void cancel(turn);
    return;
  }
  turn.finished = true;
  turn.handle?.close();
  body.setAttribute("aria-busy", "false");
  for (const part of turn.parts.parts) part.answer.tail.removeAttribute("aria-hidden");
  turn.stopButton.hidden = true;
  if (current === turn) {
    current = null;
    composerChanged();
  }
  addActions(turn);
  scheduleLayout();
}

/** The answer's buttons once it has ended: copy as Markdown, regenerate, continue. */
function addActions(/** @type {Turn} */ turn) {
  turn.actions.replaceChildren();
  if (!conversationId || turn.error) return;
  const isLast = turns[turns.length - 1] === turn;
  if (turn.parts.answers().length) {
    turn.actions.append(button("copy-answer", "Copy Markdown", () => void copyMarkdown(turn)));
  }
  if (isLast) {
    turn.actions.append(button("regenerate", "Regenerate", () => void send({ regenerate: true })));
    if (turn.reason === "length") {
      turn.actions.append(button("continue", "Continue", () => void send({ continue: true })));
    }
  }
}

/** The answer's own Markdown, from the conversation the server keeps. */
async function copyMarkdown(/** @type {Turn} */ turn) {
  const target = /** @type {HTMLButtonElement} */ (turn.actions.querySelector(".copy-answer"));
  let copied = false;
  try {
    const response = await fetch(`/api/conversations/${encodeURIComponent(conversationId ?? "")}`, { cache: "no-store" });
    const kept = await response.json();
    const text = kept.turns?.[turns.indexOf(turn)]?.answer;
    if (typeof text === "string") {
      await navigator.clipboard.writeText(text);
      copied = true;
    }
  } catch {}
  target.textContent = copied ? "Copied" : "Could not copy";
  target.dataset.copied = copied ? "1" : "0";
  setTimeout(() => {
    target.textContent = "Copy Markdown";
  }, 1500);
}

/** The client's own allowlist check removed something the server sent. */
function violation(/** @type {Turn} */ turn, /** @type {string} */ problem) {
  turn.violations.push(problem);
  turn.article.dataset.violations = String(turn.violations.length);
  turn.note.hidden = false;
  turn.note.textContent = `The page's own check removed ${turn.violations.length} item(s) the server let through: ${turn.violations.slice(0, 5).join(", ")}`;
  console.warn("renderer: removed by the client's check:", problem);
}

/** Usage, discreetly, and the reasoning time in the part itself. */
function onDone(/** @type {Turn} */ turn, /** @type {StreamEvent} */ event) {
  let done = /** @type {{reason?: string, usage?: {prompt_tokens: number, completion_tokens: number}}} */ ({});
  try {
    done = JSON.parse(event.data);
  } catch {}
  if (done.usage) {
    turn.meta.textContent = `${done.usage.prompt_tokens} + ${done.usage.completion_tokens} tokens`;
    turn.meta.title = "prompt + completion tokens";
  }
}

/** Follow one answer's events into its turn. */
function attach(/** @type {Turn} */ turn, /** @type {string} */ url, /** @type {unknown} */ post) {
  const onEvent = (/** @type {StreamEvent} */ event) => {
    turn.parts.onEvent(event); // may throw: follow then resumes, which resends the tail
    if (event.event === "done") onDone(turn, event);
    turn.committedChanged = true;
    scheduleLayout();
  };
  const onStatus = (/** @type {Status} */ status, /** @type {string | undefined} */ detail) => setStatus(turn, status, detail);
  turn.handle =
    post === undefined
      ? follow(url, { onEvent, onStatus, fetch: MODE === "fetch" })
      : follow(url, { post, onEvent, onStatus });
}

/**
 * Ask in the conversation: a new message, or regenerate / edit / continue.
 * @param {{message?: string, edit?: number, regenerate?: boolean, continue?: boolean}} what
 */
async function send(what) {
  if (current) return;
  /** @type {Record<string, unknown>} */
  const body = { conversation: conversationId, ...what };
  if (sourceSelect.value) body.source = sourceSelect.value;
  let question = what.message ?? "";
  let kind = what.continue ? "continue" : "ask";
  if (what.regenerate) {
    const last = turns.pop();
    if (!last) return;
    question = last.question;
    kind = last.kind;
    last.item.remove();
  }
  if (what.edit !== undefined) {
    for (const turn of turns.splice(what.edit)) turn.item.remove();
  }
  for (const turn of turns) addActions(turn); // only the new last answer offers regenerate
  const turn = addTurn(question, kind);
  turns.push(turn);
  current = turn;
  composerChanged();
  stick = true;
  scheduleLayout();
  if (MODE === "fetch") {
    attach(turn, "/api/chat", body);
    return;
  }
  let events;
  try {
    const response = await fetch("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    const reply = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(reply.error ?? `HTTP ${response.status}`);
    turn.id = reply.id;
    events = reply.events;
    if (reply.conversation && reply.conversation !== conversationId) {
      conversationId = reply.conversation;
      remember();
    }
  } catch (error) {
    setStatus(turn, "error", error instanceof Error ? error.message : String(error));
    return;
  }
  if (turn.finished) return;
  setStatus(turn, "connecting");
  attach(turn, events, undefined);
  if (textarea.dataset.pending === "1") {
    textarea.value = "";
    delete textarea.dataset.pending;
    composerChanged();
  }
}

/** Stop: cancel on the server (the stream then ends with `done` cancelled). */
function stop(/** @type {Turn} */ turn) {
  if (turn.finished || turn.stopping) return;
  turn.stopping = true;
  turn.stopButton.disabled = true;
  turn.stopButton.textContent = "Stopping…";
  turn.id ??= turn.handle?.id ?? null;
  if (turn.id) void cancel(turn); // else: as soon as the id is known (setStatus)
}

async function cancel(/** @type {Turn} */ turn) {
  const id = turn.id;
  if (!id || turn.cancelSent) return;
  turn.cancelSent = true;
  try {
    const response = await fetch(`/api/streams/${encodeURIComponent(id)}/cancel`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
  } catch (error) {
    turn.stopping = false;
    turn.cancelSent = false;
    turn.stopButton.disabled = false;
    turn.stopButton.textContent = "Stop";
    turn.note.hidden = false;
    turn.note.textContent = `Could not stop the answer (${error instanceof Error ? error.message : error}).`;
  }
}

// -- a reload: the conversation the address names --------------------------------

async function restore() {
  if (!conversationId) return;
  /** @type {{turns: {question: string, kind: string, reason: string | null, stream: string | null, events: string | null, html?: string}[]}} */
  let kept;
  try {
    const response = await fetch(`/api/conversations/${encodeURIComponent(conversationId)}`, { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    kept = await response.json();
  } catch {
    conversationId = null;
    remember();
    composerNote.textContent = "That conversation is no longer kept; this is a new one.";
    return;
  }
  for (const saved of kept.turns) {
    const turn = addTurn(saved.question, saved.kind);
    turns.push(turn);
    turn.id = saved.stream;
    if (saved.events) {
      if (saved.reason === null) current = turn;
      attach(turn, saved.events, undefined);
    } else {
      // The stream expired: the answer text, rendered by the server from its kept source.
      turn.parts.onEvent({ event: "replace", data: saved.html ?? "" });
      setStatus(turn, saved.reason === "cancelled" || saved.reason === "error" ? saved.reason : "done", saved.reason ?? undefined);
    }
  }
  composerChanged();
  scheduleLayout();
}

// -- scrolling: follow the answer unless the reader scrolled up -----------------

log.addEventListener(
  "scroll",
  () => {
    const top = log.scrollTop;
    const gap = log.scrollHeight - log.clientHeight - top;
    if (gap <= 2 || (top > lastTop && gap < STICK_GAP)) stick = true;
    else if (top < lastTop) stick = false;
    lastTop = top;
    latestButton.hidden = stick;
  },
  { passive: true },
);

latestButton.addEventListener("click", () => {
  stick = true;
  scheduleLayout();
  textarea.focus({ preventScroll: true });
});

// -- layout, once a frame: copy buttons and scrolling -------------------------

const resizeObserver = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const turn = turns.find((candidate) => candidate.frame === entry.target);
    if (turn) turn.committedChanged = true; // the blocks may have moved
  }
  scheduleLayout();
});

function scheduleLayout() {
  if (!frameRequest) frameRequest = requestAnimationFrame(layout);
}

function layout() {
  frameRequest = 0;
  for (const turn of turns) {
    if (turn.committedChanged) {
      turn.committedChanged = false;
      placeCopyButtons(turn);
    }
  }
  if (stick) {
    log.scrollTop = log.scrollHeight;
    lastTop = log.scrollTop;
  }
  latestButton.hidden = stick;
}

/** Over each <pre> of the answer (committed, or still streaming in a tail),
 * in the answer's overlay layer: its language at the top left, a copy
 * button at the top right (style.css leaves a strip for them at the top of
 * every code block). */
function placeCopyButtons(/** @type {Turn} */ turn) {
  const body = turn.body;
  for (const [pre, overlays] of turn.copyButtons) {
    if (!body.contains(pre)) {
      for (const overlay of overlays) overlay.remove(); // gone with a `replace` or a new tail
      turn.copyButtons.delete(pre);
    }
  }
  const blocks = body.querySelectorAll("pre");
  if (!blocks.length) return;
  const base = turn.frame.getBoundingClientRect();
  blocks.forEach((pre, index) => {
    let overlays = turn.copyButtons.get(pre);
    const language = /language-(\S+)/.exec(pre.querySelector("code")?.className ?? "")?.[1] ?? "";
    if (!overlays || overlays[0].dataset.language !== language) {
      for (const overlay of overlays ?? []) overlay.remove();
      overlays = [copyButton(pre, index + 1, language)];
      if (language) {
        const label = element("span", "code-language");
        label.textContent = language;
        label.setAttribute("aria-hidden", "true"); // the button's label says it
        overlays.push(label);
      }
      turn.copyButtons.set(pre, overlays);
      turn.layer.append(...overlays);
    }
    const box = pre.getBoundingClientRect();
    const [copy, label] = overlays;
    // Hidden while the block is inside a collapsed part (reasoning).
    copy.hidden = label ? (label.hidden = box.height === 0) : box.height === 0;
    copy.style.top = `${box.top - base.top + 5}px`;
    copy.style.right = `${base.right - box.right + 6}px`;
    if (label) {
      label.style.top = `${box.top - base.top + 6}px`;
      label.style.left = `${box.left - base.left + 12}px`;
    }
  });
}

function copyButton(/** @type {HTMLPreElement} */ pre, /** @type {number} */ number, /** @type {string} */ language) {
  const copy = /** @type {HTMLButtonElement} */ (element("button", "copy"));
  copy.type = "button";
  copy.textContent = "Copy";
  copy.dataset.language = language;
  copy.setAttribute("aria-label", `Copy code block ${number}${language ? ` (${language})` : ""}`);
  copy.addEventListener("click", async () => {
    const text = (pre.textContent ?? "").replace(/\n$/, "");
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      // No clipboard API (insecure context, permission): select the code instead.
      getSelection()?.selectAllChildren(pre);
    }
    copy.textContent = copied ? "Copied" : "Selected";
    copy.dataset.copied = copied ? "1" : "0";
    setTimeout(() => {
      copy.textContent = "Copy";
    }, 1500);
  });
  return copy;
}

// -- the composer -----------------------------------------------------------------

/** Send is Stop while an answer streams; the length is shown near the limit. */
function composerChanged() {
  const length = textarea.value.length;
  const over = length > maxMessage;
  counter.hidden = length < maxMessage * 0.8;
  counter.textContent = `${length.toLocaleString("en")} / ${maxMessage.toLocaleString("en")}`;
  counter.dataset.over = over ? "1" : "0";
  sendButton.textContent = current ? "Stop" : editing !== null ? "Resend" : "Send";
  sendButton.dataset.role = current ? "stop" : "send";
  sendButton.disabled = !current && over;
  sendButton.setAttribute("aria-label", current ? "Stop the answer" : "Send");
  // Grow with the text, up to a third of the window (style.css caps it).
  textarea.style.height = "auto";
  textarea.style.height = `${textarea.scrollHeight + 2}px`;
}

function startEdit(/** @type {Turn} */ turn) {
  if (current) return;
  editing = turns.indexOf(turn);
  textarea.value = turn.question;
  composerNote.textContent = `Editing question ${editing + 1}: sending replaces it and everything after it (Esc cancels).`;
  composerChanged();
  textarea.focus();
}

function stopEditing() {
  editing = null;
  composerNote.textContent = "";
  composerChanged();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (current) {
    stop(current);
    return;
  }
  const question = textarea.value;
  if (!question.trim()) return;
  if (question.length > maxMessage) {
    composerNote.textContent = `The message is longer than ${maxMessage.toLocaleString("en")} characters: shorten it first.`;
    return;
  }
  // The text stays in the composer until the answer has started.
  textarea.dataset.pending = "1";
  const edit = editing;
  editing = null;
  composerNote.textContent = "";
  if (edit !== null) {
    textarea.value = "";
    delete textarea.dataset.pending;
    void send({ message: question, edit });
  } else {
    void send({ message: question });
  }
});

textarea.addEventListener("input", composerChanged);

textarea.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    if (current) {
      composerNote.textContent = "An answer is still streaming: Stop it (Esc) or wait, then send.";
      return;
    }
    form.requestSubmit();
  } else if (event.key === "Escape") {
    if (current) stop(current);
    else if (editing !== null) stopEditing();
  }
});

$("new-chat").addEventListener("click", () => {
  if (current) stop(current);
  conversationId = null;
  remember();
  for (const turn of turns.splice(0)) turn.item.remove();
  current = null;
  $("empty").hidden = false;
  stopEditing();
  textarea.focus();
});

// -- start: what the server says about itself, then the conversation --------------

async function start() {
  try {
    const info = await (await fetch("/api/info", { cache: "no-store" })).json();
    if (typeof info.max_message === "number") maxMessage = info.max_message;
    const developer = info.developer === true || wanted !== null;
    $("settings").hidden = !developer;
    document.body.dataset.developer = developer ? "1" : "0";
  } catch {}
  composerChanged();
  await restore();
}

void start();
textarea.focus();
