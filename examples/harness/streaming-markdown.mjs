// streaming-markdown (smd): a streaming renderer that builds DOM nodes as
// chunks arrive, never parsing HTML. mount() returns the writer the harness
// feeds chunk by chunk (--stream), checking the live DOM after each.
import * as smd from "streaming-markdown";

export function mount(element) {
  const parser = smd.parser(smd.default_renderer(element));
  return {
    write: (chunk) => smd.parser_write(parser, chunk),
    end: () => smd.parser_end(parser),
  };
}
