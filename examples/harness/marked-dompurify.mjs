// marked + DOMPurify, the way many chat UIs render a model's answer:
// Markdown to HTML with marked, then DOMPurify with its default settings.
//   python -m renderer xss-check --js examples/harness/marked-dompurify.mjs \
//       --node-modules .cache/npm/node_modules [--stream]
import { marked } from "marked";
import DOMPurify from "dompurify";

export function render(text) {
  return DOMPurify.sanitize(marked.parse(text, { async: false }));
}
