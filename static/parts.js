// parts.js: an answer made of parts (reasoning, answer text, tool calls,
// refusals, notices), each one createAnswer (answer.js) in an element of
// its own, in the order the server opened them.
//
// The wire (docs/server.md, "Parts"): a `part` event, data
// {"part": n, "kind": ..., "name"?, "id"?, "at": seconds}, opens the next
// part; ops (block, tail, append, commit, replace) apply to the part opened
// last. Ops before any `part` event build an answer part, so an answer that
// is only text has no `part` event at all. Reasoning is a <details> that is
// open while it streams and collapses to "Thought for N s" when the next
// part opens (N from the events' own `at` times, so a replay shows the same).
// Labels are set with textContent: no string from the wire becomes HTML
// here, only through answer.js (parseFragment).

import { createAnswer } from "./answer.js";

/** @typedef {import("./transport.js").StreamEvent} StreamEvent */

/**
 * @typedef {{
 *   kind: string,
 *   element: HTMLElement,
 *   answer: ReturnType<typeof createAnswer>,
 *   at: number | null,
 *   summary: HTMLElement | null,
 * }} Part
 */

const LABELS = /** @type {Record<string, string>} */ ({ refusal: "Refusal", notice: "" });

/** "Thought for 3 s", "Thought for 1 min 5 s", "Thought for a moment". */
export function thoughtFor(/** @type {number} */ seconds) {
  if (!(seconds >= 1)) return "Thought for a moment";
  const whole = Math.round(seconds);
  if (whole < 60) return `Thought for ${whole} s`;
  return `Thought for ${Math.floor(whole / 60)} min ${whole % 60} s`;
}

/**
 * The parts of one answer.
 * @param {Element} root where the parts go (its content is replaced)
 * @param {{onViolation?: (problem: string) => void, onPart?: (part: Part) => void}} [options]
 */
export function createParts(root, { onViolation, onPart } = {}) {
  root.replaceChildren();
  /** @type {Part[]} */
  const parts = [];

  function open(/** @type {string} */ kind, /** @type {Record<string, unknown>} */ meta) {
    closeReasoning(typeof meta.at === "number" ? meta.at : null);
    const body = document.createElement("div");
    body.className = "part-content";
    /** @type {HTMLElement} */
    let element;
    /** @type {HTMLElement | null} */
    let summary = null;
    if (kind === "reasoning") {
      const details = document.createElement("details");
      details.open = true;
      summary = document.createElement("summary");
      summary.textContent = "Thinking…";
      details.append(summary, body);
      element = details;
    } else {
      element = document.createElement("div");
      const label = kind === "tool_call" ? `Tool call: ${typeof meta.name === "string" ? meta.name : "?"}` : LABELS[kind];
      if (label) {
        const head = document.createElement("div");
        head.className = "part-label";
        head.textContent = label;
        element.append(head);
      }
      element.append(body);
      if (kind === "notice") element.setAttribute("role", "note");
    }
    element.classList.add("part", `part-${kind.replace(/[^a-z_]/g, "")}`);
    element.dataset.kind = kind;
    root.append(element);
    /** @type {Part} */
    const part = {
      kind,
      element,
      answer: createAnswer(body, { onViolation }),
      at: typeof meta.at === "number" ? meta.at : null,
      summary,
    };
    parts.push(part);
    onPart?.(part);
    return part;
  }

  /** Collapse an open reasoning part (the next part opened, or the answer ended at `at`). */
  function closeReasoning(/** @type {number | null} */ at) {
    const last = parts[parts.length - 1];
    if (!last || last.kind !== "reasoning" || !last.summary || last.element.dataset.closed) return;
    last.element.dataset.closed = "1";
    /** @type {HTMLDetailsElement} */ (last.element).open = false;
    last.summary.textContent = at !== null && last.at !== null ? thoughtFor(at - last.at) : "Thoughts";
  }

  /** Feed a stream event; returns whether it changed the answer. */
  function onEvent(/** @type {StreamEvent} */ event) {
    if (event.event === "part") {
      /** @type {Record<string, unknown>} */
      let meta = {};
      try {
        meta = JSON.parse(event.data);
      } catch {}
      open(typeof meta.kind === "string" ? meta.kind : "answer", meta);
      return true;
    }
    if (event.event === "done") {
      let at = null;
      try {
        at = JSON.parse(event.data).at ?? null;
      } catch {}
      closeReasoning(at);
      return false;
    }
    if (!["block", "tail", "append", "commit", "replace"].includes(event.event)) return false;
    const part = parts[parts.length - 1] ?? open("answer", {});
    return part.answer.apply(event.event, event.data);
  }

  return {
    root,
    parts,
    onEvent,
    /** The answer text's parts (what "the answer" is without reasoning, tool calls, notices). */
    answers: () => parts.filter((part) => part.kind === "answer"),
  };
}
