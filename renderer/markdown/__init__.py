"""The Markdown engine: Markdown in, sanitized HTML out, in one shot or as it grows.

- ``render``: ``render_markdown``, the one-shot renderer every stream converges to,
  and the parser configurations (``make_parser``: the chat's, CommonMark's);
- ``math``: TeX to MathML (math-core), rebuilt inside the allowlist;
- ``containers``: ``<details>``/``<div>`` written around Markdown, kept as one block;
- ``stream``: ``MarkdownStream``, the incremental engine (``feed``/``close`` -> ops);
- ``ops``: the ops it emits and ``assemble``, the reference assembler;
- ``commit``: which prefix of the text is final (never changes again);
- ``split``: where a pending block may be cut to preview it piece by piece;
- ``preview``: how an unfinished tail is shown (held back, closed, compacted);
- ``tail``: the tail preview with its caches;
- ``holdback``: what else the preview holds back (a formula or URL being typed);
- ``highlight``: code-block highlighting inside the allowlist.

No I/O and no server here: this package imports markdown-it-py (with
mdit-py-plugins and linkify-it-py), math-core, Pygments and the sanitizer,
never tornado.
"""

from .ops import Op, Part, assemble, assemble_parts
from .render import render_markdown
from .stream import MarkdownStream

__all__ = ["MarkdownStream", "Op", "Part", "assemble", "assemble_parts", "render_markdown"]
