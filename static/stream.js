// stream.js: show a streamed answer safely, as it grows.
//
// Drop it into any page served with the server's /static/ routes (the
// modules below, and allowlist.js, which the server generates from its
// sanitizing Policy), with /static/answer.css for the answer's look:
//
//   import { createAnswer, follow } from "/static/stream.js";
//   const answer = createAnswer(document.querySelector("#answer"));
//   follow("/api/streams/ID/events", { onEvent: answer.onEvent });
//
// The public entry; each job lives in a module of its own:
//
//   dom.js        parseFragment, allowedUrl: the one HTML-to-DOM function
//                 (inert template, allowlist re-check, then nodes)
//   answer.js     createAnswer: committed nodes and the tail, applying ops
//   parts.js      createParts: an answer's parts (reasoning, answer text,
//                 tool calls, refusals, notices), one createAnswer each
//   transport.js  createParser (SSE framing) and follow (EventSource or
//                 fetch, with resume)

/** @typedef {import("./transport.js").StreamEvent} StreamEvent */
/** @typedef {import("./transport.js").Status} Status */

export { createAnswer } from "./answer.js";
export { createParts, thoughtFor } from "./parts.js";
export { allowedUrl, parseFragment } from "./dom.js";
export { createParser, follow } from "./transport.js";
