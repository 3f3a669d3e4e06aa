// sanitize.js: the sanitization harness page at GET /sanitize.
//
// What the user types goes to POST /api/sanitize as they type (debounced;
// a newer request aborts an older one, and a late answer never overwrites a
// newer one). The answer is shown three ways, side by side:
//
//   Rendered         through stream.js's parseFragment, the client's one
//                    HTML-to-DOM path (inert template, allowlist re-check),
//                    exactly as an answer in the chat is shown
//   Sanitized HTML   the HTML as text (textContent), never parsed
//   Removed          the server's list of what it took out, as text; and
//                    anything the client's re-check had to remove (which
//                    would mean the server let it through)
//
// This file never turns a string into HTML itself.

import { parseFragment } from "./stream.js";

const DEBOUNCE_MS = 120;

/** A few inputs to start from; the shipped corpus has hundreds more. */
const EXAMPLES = {
  "img onerror": '<p>Hello <img src="x" onerror="alert(1)"> <b onclick="alert(2)">world</b></p>',
  "javascript: link": '[click me](javascript:alert(1)) and <a href="jav&#x09;ascript:alert(1)">me</a>',
  "svg/style mXSS": '<svg><p><style><a id="</style><img src=1 onerror=alert(1)>">',
  "noscript breakout": '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
  "Markdown answer": "# Answer\n\nSome *text* with `code`, a [link](https://example.org) and\n<script>alert(1)</script>\n\n```python\nprint('<b>hi</b>')\n```\n\n| a | b |\n|---|---|\n| <img src=x onerror=alert(1)> | ok |",
};

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const input = /** @type {HTMLTextAreaElement} */ ($("input"));
const options = /** @type {HTMLFormElement} */ ($("options"));
const sanitizerSelect = /** @type {HTMLSelectElement} */ ($("sanitizer"));
const exampleSelect = /** @type {HTMLSelectElement} */ ($("example"));
const status = $("status");
const rendered = $("rendered");
const source = $("source");
const removedList = $("removed");
const clientNote = $("client");

for (const name of Object.keys(EXAMPLES)) {
  const option = document.createElement("option");
  option.value = name;
  option.textContent = name;
  exampleSelect.append(option);
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
/** @type {AbortController | null} */
let inFlight = null;
let sequence = 0;

function kind() {
  const checked = /** @type {HTMLInputElement | null} */ (options.querySelector('input[name="kind"]:checked'));
  return checked?.value === "html" ? "html" : "markdown";
}

function setStatus(/** @type {string} */ text, /** @type {"" | "busy" | "error"} */ state = "") {
  status.textContent = text;
  status.dataset.state = state;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(update, DEBOUNCE_MS);
}

async function update() {
  const text = input.value;
  const mine = ++sequence;
  inFlight?.abort();
  inFlight = null;
  if (!text) {
    show({ html: "", removed: [] });
    setStatus("Type or paste below.");
    return;
  }
  const controller = (inFlight = new AbortController());
  setStatus("Sanitizing…", "busy");
  try {
    const response = await fetch("/api/sanitize", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ [kind()]: text, sanitizer: sanitizerSelect.value }),
      signal: controller.signal,
      cache: "no-store",
    });
    const body = await response.json().catch(() => ({}));
    if (mine !== sequence) return;
    if (!response.ok) {
      setStatus(`Error ${response.status}: ${body.error ?? response.statusText}`, "error");
      return;
    }
    show(body);
    const count = body.removed.length;
    setStatus(`${kind() === "html" ? "HTML" : "Markdown"} sanitized by ${sanitizerSelect.value}: ${count ? `${count} removed` : "nothing removed"}.`);
  } catch (error) {
    if (controller.signal.aborted || mine !== sequence) return;
    setStatus(`Error: ${error}`, "error");
  }
}

/** Show one answer of the API. */
function show(/** @type {{html: string, removed: string[]}} */ { html, removed }) {
  /** @type {string[]} */
  const violations = [];
  rendered.replaceChildren(parseFragment(html, (problem) => violations.push(problem)));
  source.textContent = html;
  removedList.replaceChildren(
    ...removed.map((item) => {
      const li = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = item;
      li.append(code);
      return li;
    }),
  );
  removedList.dataset.empty = String(removed.length === 0);
  clientNote.hidden = violations.length === 0;
  clientNote.textContent = violations.length ? `The client's re-check also removed: ${violations.join(", ")}` : "";
}

input.addEventListener("input", schedule);
options.addEventListener("change", (event) => {
  if (event.target === exampleSelect) {
    const example = EXAMPLES[/** @type {keyof typeof EXAMPLES} */ (exampleSelect.value)];
    if (example === undefined) return;
    input.value = example;
    exampleSelect.value = "";
    input.focus();
  }
  schedule();
});
options.addEventListener("submit", (event) => event.preventDefault());
if (input.value) schedule(); // the browser restored the text after a reload
