"""Streaming Markdown rendering: incremental, sanitized, safe to show as it grows.

The engine (``renderer.markdown``) and the sanitizer (``renderer.sanitizer``)
are a library of their own: importing ``renderer`` loads no server. The
server is ``renderer.server``; progressive pages ``renderer.progressive``;
the sanitization harness ``renderer.harness``.
"""

from .markdown import MarkdownStream, Op, Part, assemble, assemble_parts, render_markdown
from .sanitizer import Policy, clean, sanitize

__all__ = [
    "MarkdownStream",
    "Op",
    "Part",
    "Policy",
    "assemble",
    "assemble_parts",
    "clean",
    "render_markdown",
    "sanitize",
]
