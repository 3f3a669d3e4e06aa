// marked alone, no sanitizer: the mistake the harness exists to catch.
import { marked } from "marked";

export function render(text) {
  return marked.parse(text, { async: false });
}
