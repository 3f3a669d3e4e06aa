// The page's own script: one answer at a time, streamed with renderer's
// stream.js (the only code here that puts answer HTML into the page).

import { createAnswer, follow } from "/static/stream.js";

const form = /** @type {HTMLFormElement} */ (document.querySelector("#ask"));
const input = /** @type {HTMLInputElement} */ (document.querySelector("#message"));
const send = /** @type {HTMLButtonElement} */ (document.querySelector("#send"));
const status = /** @type {HTMLElement} */ (document.querySelector("#status"));
const root = /** @type {HTMLElement} */ (document.querySelector("#answer"));

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const message = input.value;
  if (!message.trim()) return;
  send.disabled = true;
  const answer = createAnswer(root);
  // POST /api/chat and read the answer from the same response (fetch);
  // after a drop, follow resumes from the last event id.
  follow("/api/chat", {
    post: { message, source: "shout" },
    onEvent: answer.onEvent,
    onStatus: (state, detail) => {
      root.dataset.state = state; // answer.css shows the caret while "generating"
      status.textContent = detail ? `${state}: ${detail}` : state;
      if (state === "done" || state === "cancelled" || state === "error") send.disabled = false;
    },
  });
});
