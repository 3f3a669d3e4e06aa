// dom.js: the one place where an HTML string reaches the DOM.
//
// `parseFragment` parses sanitized HTML in an inert <template> (no script
// runs, nothing loads), checks it again against the server's allowlist
// (/static/allowlist.js, generated from the server's Policy), and only then
// hands its nodes over. Everything else appends nodes, never strings.

import { ATTRIBUTES, ATTRIBUTE_VALUES, DROP_CONTENT_TAGS, MATHML_TAGS, SET_ATTRIBUTES, TAGS, URL_SCHEMES } from "./allowlist.js";

const HTML_NS = "http://www.w3.org/1999/xhtml";
const MATHML_NS = "http://www.w3.org/1998/Math/MathML";

/**
 * Whether an element may stay where it is: HTML elements of the allowlist
 * outside <math>; inside <math>, MathML elements of the allowlist only (an
 * HTML element there sits at an integration point, where mutation XSS
 * chains live); <math> itself only outside another.
 * @param {Element} node
 */
function allowedElement(node) {
  const name = node.localName;
  const parent = node.parentNode;
  const inMath = parent instanceof Element && parent.namespaceURI === MATHML_NS;
  if (node.namespaceURI === MATHML_NS) {
    return MATHML_TAGS.has(name) && (name === "math" ? !inMath : inMath);
  }
  return node.namespaceURI === HTML_NS && !inMath && TAGS.has(name);
}

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
    if (!root.contains(node)) continue; // inside a subtree removed already
    if (!allowedElement(node)) {
      report(`<${name}>`);
      const foreign = node.namespaceURI !== HTML_NS || (node.parentNode instanceof Element && node.parentNode.namespaceURI !== HTML_NS);
      if (DROP_CONTENT_TAGS.has(name) || foreign) node.remove();
      else node.replaceWith(...node.childNodes);
      continue;
    }
    const set = SET_ATTRIBUTES[/** @type {keyof typeof SET_ATTRIBUTES} */ (name)];
    for (const [attribute, value] of Object.entries(set ?? {})) {
      const given = node.getAttribute(attribute);
      if (given !== value && given !== "") node.setAttribute(attribute, value); // a boolean attribute may be ""
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
