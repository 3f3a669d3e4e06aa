// answer.js: one answer on the page, as the server's ops build it.
//
// Committed nodes are never touched again once appended, so text stays
// selectable while the answer streams; only the tail changes. HTML reaches
// the DOM only through dom.js's parseFragment.

import { parseFragment } from "./dom.js";

/** @typedef {import("./transport.js").StreamEvent} StreamEvent */

const VOID = new Set(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"]);
const WHITESPACE = /^[ \t\n\f\r]*$/;
const END_TAG = /^<\/([A-Za-z][A-Za-z0-9]*)>/;
const MATHML_NS = "http://www.w3.org/1998/Math/MathML";

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

  /** Insert html before the tail's trailing end tags (see renderer/markdown/ops.py). */
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
    target.append(target.namespaceURI === MATHML_NS ? parseInMath(rest) : parse(rest));
  }

  /** HTML that goes inside an open MathML element, parsed as the browser
   * would parse it there: inside a <math> (out of it, <mi> is no MathML). */
  function parseInMath(/** @type {string} */ html) {
    const fragment = parse(`<math>${html}</math>`);
    const math = fragment.firstChild;
    if (fragment.childNodes.length !== 1 || !(math instanceof Element) || math.namespaceURI !== MATHML_NS) {
      throw new Error("append does not fit the tail: it leaves <math>");
    }
    const nodes = document.createDocumentFragment();
    nodes.append(...math.childNodes);
    return nodes;
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
