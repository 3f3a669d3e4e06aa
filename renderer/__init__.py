"""Streaming Markdown rendering: incremental, sanitized, safe to show as it grows."""

from .engine import MarkdownStream
from .markdown import render_markdown
from .ops import Op, assemble
from .sanitize import sanitize

__all__ = ["MarkdownStream", "Op", "assemble", "render_markdown", "sanitize"]
