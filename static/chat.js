// chat.js: the chat page at GET /.
//
// Each answer is one `createAnswer` (stream.js) fed by one `follow`: by
// default POST /api/chat, then an EventSource on the events URL it returns;
// with `?mode=fetch` in the page's address, one fetch that POSTs and reads
// the answer as SSE in the same response (and resumes by GET after a drop).
// `?source=NAME` preselects a source (also one the picker does not list).
//
// This file never turns a string into HTML: user text goes in with
// textContent, answer HTML only through stream.js (its parseFragment).
//
// Copy buttons: committed nodes are never touched, not even to add a button
// next to a <pre>. Each answer's HTML sits in its own frame with an overlay
// layer on top; a copy button for each committed <pre> lives in that layer,
// positioned over the block's top right corner (and moved when the layout
// changes). A code block gets its button once it is committed, that is once
// its fence is closed and it is highlighted; a block still streaming in the
// tail has none.
//
// Screen readers: each answer's HTML is a polite live region (aria-atomic
// false, additions only), aria-busy while generating. The tail, which is
// replaced at each event, is aria-hidden while the answer streams, so only
// committed blocks are announced, each once; the state line is a status.

import { createAnswer, follow } from "./stream.js";

/** @typedef {import("./stream.js").StreamEvent} StreamEvent */
/** @typedef {import("./stream.js").Status} Status */

/**
 * One question and its answer on the page.
 * @typedef {{
 *   article: HTMLElement,
 *   state: HTMLElement,
 *   stopButton: HTMLButtonElement,
 *   frame: HTMLElement,
 *   layer: HTMLElement,
 *   note: HTMLElement,
 *   answer: ReturnType<typeof createAnswer>,
 *   handle: {close(): void, readonly id: string | null} | null,
 *   id: string | null,
 *   finished: boolean,
 *   stopping: boolean,
 *   cancelSent: boolean,
 *   error: string,
 *   violations: string[],
 *   copyButtons: Map<Element, HTMLElement[]>,
 *   committedChanged: boolean,
 *   question: string,
 * }} Turn
 */

const params = new URLSearchParams(location.search);
const MODE = params.get("mode") === "fetch" ? "fetch" : "eventsource";
/** Characters of earlier turns sent along with a new message (the server takes 32,000 at most). */
const HISTORY_BUDGET = 16_000;
/** Pixels from the bottom within which scrolling down follows the answer again. */
const STICK_GAP = 48;

/** @type {Record<Status, string>} */
const STATE_TEXT = {
  connecting: "Connecting…",
  generating: "Generating…",
  reconnecting: "Reconnecting…",
  done: "Done",
  cancelled: "Stopped",
  error: "Error",
};
const FINAL = new Set(["done", "cancelled", "error"]);

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const log = $("log");
const turnsList = $("turns");
const form = /** @type {HTMLFormElement} */ ($("composer"));
const textarea = /** @type {HTMLTextAreaElement} */ ($("message"));
const sendButton = /** @type {HTMLButtonElement} */ ($("send"));
const sourceSelect = /** @type {HTMLSelectElement} */ ($("source"));
const latestButton = /** @type {HTMLButtonElement} */ ($("latest"));

/** @type {Turn[]} */
const turns = [];
/** @type {Turn | null} */
let current = null;
let stick = true;
let lastTop = 0;
let frameRequest = 0;

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

/** Add a question and an empty answer to the log. */
function addTurn(/** @type {string} */ question) {
  const item = element("li", "turn");
  const asked = element("div", "question");
  asked.textContent = question;

  const article = element("article", "answer");
  article.setAttribute("aria-label", "Answer");
  const head = element("div", "answer-head");
  const state = element("span", "state");
  state.setAttribute("role", "status");
  const stopButton = /** @type {HTMLButtonElement} */ (element("button", "stop"));
  stopButton.type = "button";
  stopButton.textContent = "Stop";
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
  article.append(head, frame, note);
  item.append(asked, article);
  turnsList.append(item);
  $("empty").hidden = true;

  /** @type {Turn} */
  const turn = {
    article,
    state,
    stopButton,
    frame,
    layer,
    note,
    answer: createAnswer(body, { onViolation: (problem) => violation(turn, problem) }),
    handle: null,
    id: null,
    finished: false,
    stopping: false,
    cancelSent: false,
    error: "",
    violations: [],
    copyButtons: new Map(),
    committedChanged: false,
    question,
  };
  turn.answer.tail.setAttribute("aria-hidden", "true");
  stopButton.addEventListener("click", () => stop(turn));
  resizeObserver.observe(frame);
  setStatus(turn, "connecting");
  return turn;
}

/** Show a stream status on its answer. */
function setStatus(/** @type {Turn} */ turn, /** @type {Status} */ status, /** @type {string | undefined} */ detail) {
  if (turn.finished) return;
  if (status === "error" && detail) turn.error = detail;
  if (status === "generating" && turn.handle?.id) turn.id ??= turn.handle.id;
  turn.article.dataset.state = status;
  turn.state.textContent = status === "error" && turn.error ? `Error: ${turn.error}` : STATE_TEXT[status];
  const body = turn.answer.root;
  if (!FINAL.has(status)) {
    body.setAttribute("aria-busy", "true");
    if (turn.id) turn.article.dataset.streamId = turn.id;
    if (turn.stopping && turn.id) void cancel(turn);
    return;
  }
  turn.finished = true;
  turn.handle?.close();
  body.setAttribute("aria-busy", "false");
  turn.answer.tail.removeAttribute("aria-hidden");
  turn.stopButton.hidden = true;
  if (current === turn) {
    current = null;
    sendButton.disabled = false;
  }
  scheduleLayout();
}

/** The client's own allowlist check removed something the server sent. */
function violation(/** @type {Turn} */ turn, /** @type {string} */ problem) {
  turn.violations.push(problem);
  turn.article.dataset.violations = String(turn.violations.length);
  turn.note.hidden = false;
  turn.note.textContent = `The page's own check removed ${turn.violations.length} item(s) the server let through: ${turn.violations.slice(0, 5).join(", ")}`;
  console.warn("renderer: removed by the client's check:", problem);
}

/** The conversation so far, newest last, within HISTORY_BUDGET characters. */
function messagesFor(/** @type {string} */ question) {
  /** @type {{role: string, content: string}[]} */
  const messages = [{ role: "user", content: question }];
  let size = question.length;
  for (let index = turns.length - 1; index >= 0; index--) {
    const turn = turns[index];
    const said = (turn.answer.root.textContent ?? "").trim();
    if (!said) continue; // an answer that failed before it said anything
    size += turn.question.length + said.length;
    if (size > HISTORY_BUDGET) break;
    messages.unshift({ role: "user", content: turn.question }, { role: "assistant", content: said });
  }
  return messages;
}

/** Ask a question: add the turn, start the answer, follow it. */
async function ask(/** @type {string} */ question) {
  /** @type {{messages: {role: string, content: string}[], source?: string}} */
  const body = { messages: messagesFor(question) };
  if (sourceSelect.value) body.source = sourceSelect.value;
  const turn = addTurn(question);
  turns.push(turn);
  current = turn;
  sendButton.disabled = true;
  stick = true;
  scheduleLayout();
  const onEvent = (/** @type {StreamEvent} */ event) => {
    turn.answer.onEvent(event); // may throw: follow then resumes, which resends the tail
    if (event.event === "block" || event.event === "commit" || event.event === "replace") turn.committedChanged = true;
    scheduleLayout();
  };
  const onStatus = (/** @type {Status} */ status, /** @type {string | undefined} */ detail) => setStatus(turn, status, detail);
  if (MODE === "fetch") {
    turn.handle = follow("/api/chat", { post: body, onEvent, onStatus });
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
  } catch (error) {
    setStatus(turn, "error", error instanceof Error ? error.message : String(error));
    return;
  }
  if (turn.finished) return;
  turn.handle = follow(events, { onEvent, onStatus });
}

/** Stop button: cancel on the server (the stream then ends with `done` cancelled). */
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
    const response = await fetch(`/api/streams/${encodeURIComponent(id)}/cancel`, { method: "POST" });
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

/** Over each committed <pre>, in the answer's overlay layer: its language
 * at the top left, a copy button at the top right (style.css leaves a strip
 * for them at the top of every code block). */
function placeCopyButtons(/** @type {Turn} */ turn) {
  const committed = turn.answer.committed;
  for (const [pre, overlays] of turn.copyButtons) {
    if (!committed.contains(pre)) {
      for (const overlay of overlays) overlay.remove(); // gone with a `replace`
      turn.copyButtons.delete(pre);
    }
  }
  const blocks = committed.querySelectorAll("pre");
  if (!blocks.length) return;
  const base = turn.frame.getBoundingClientRect();
  blocks.forEach((pre, index) => {
    let overlays = turn.copyButtons.get(pre);
    if (!overlays) {
      const language = /language-(\S+)/.exec(pre.querySelector("code")?.className ?? "")?.[1] ?? "";
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
    const [button, label] = overlays;
    button.style.top = `${box.top - base.top + 5}px`;
    button.style.right = `${base.right - box.right + 6}px`;
    if (label) {
      label.style.top = `${box.top - base.top + 6}px`;
      label.style.left = `${box.left - base.left + 12}px`;
    }
  });
}

function copyButton(/** @type {HTMLPreElement} */ pre, /** @type {number} */ number, /** @type {string} */ language) {
  const button = /** @type {HTMLButtonElement} */ (element("button", "copy"));
  button.type = "button";
  button.textContent = "Copy";
  button.setAttribute("aria-label", `Copy code block ${number}${language ? ` (${language})` : ""}`);
  button.addEventListener("click", async () => {
    const text = (pre.textContent ?? "").replace(/\n$/, "");
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      // No clipboard API (insecure context, permission): select the code instead.
      getSelection()?.selectAllChildren(pre);
    }
    button.textContent = copied ? "Copied" : "Selected";
    button.dataset.copied = copied ? "1" : "0";
    setTimeout(() => {
      button.textContent = "Copy";
    }, 1500);
  });
  return button;
}

// -- the composer -----------------------------------------------------------------

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const question = textarea.value;
  if (!question.trim() || current) return;
  textarea.value = "";
  void ask(question);
});

textarea.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  } else if (event.key === "Escape" && current) {
    stop(current);
  }
});

textarea.focus();
