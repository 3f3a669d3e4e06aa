"""Recognizing HTML a sanitizer would keep as it is, without parsing it.

Most of what a sanitizer sees is markdown-it's own output: text escaped,
tags from a short list, attributes double-quoted.  Running it through an
HTML5 parser and serializer (bleach: about 2.5 ms per KB) only to get the
same markup back is most of the cost of committing an answer.
``already_clean`` checks such HTML against the policy in one linear scan and
says whether it is already what the policy allows; anything it does not
recognize goes to the backend, as before.

What it accepts is a strict, regular subset of HTML whose meaning does not
depend on parser quirks:

- every ``<`` starts a tag of the form ``<name attr="value" ...>`` or
  ``</name>`` (no comment, declaration, CDATA, self-closing ``/>``, unquoted
  or single-quoted value), and every ``>`` ends one, so text holds no markup
  and is written as the backends write it;
- every element is one of the policy's HTML elements (MathML, and elements
  whose attributes the policy sets, go to the backend), and is closed in
  order, void elements never;
- every attribute passes ``Policy.attribute_problem`` on its value as a
  browser decodes it, appears once, and a link with an ``href`` carries
  exactly the policy's ``rel`` (and no other link does);
- no NUL, no lone surrogate, no character the backends would replace, and
  no character reference but ``&amp;``, ``&lt;``, ``&gt;`` and ``&quot;``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .urls import unescape_attribute

if TYPE_CHECKING:
    from .clean import Policy

__all__ = ["already_clean"]

_TAG = re.compile(r'<(/?)([a-z][a-z0-9]*)((?: [a-z][a-z-]*(?:="[^"<>]*")?)*)>')
_ATTRIBUTE = re.compile(r' ([a-z][a-z-]*)(?:="([^"<>]*)")?')
# What either backend rewrites: control characters other than tab and
# newline, carriage returns, U+00A0 (nh3 writes "&nbsp;"), lone surrogates, and character references other
# than the four markdown-it writes (``&#0;``, ``&nbsp;``, ``&copy`` ...).
_REWRITTEN = re.compile("[\x00-\x08\x0b-\x1f\x7f\xa0\ud800-\udfff]|&(?!(?:amp|lt|gt|quot);)")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)


def already_clean(html: str, policy: Policy) -> bool:
    """Whether ``html`` is in the recognized subset and the policy keeps all
    of it, so that sanitizing it would not change what it means."""
    if _REWRITTEN.search(html):
        return False
    open_elements: list[str] = []
    position = tags = 0
    while (start := html.find("<", position)) >= 0:
        tags += 1
        tag = _TAG.match(html, start)
        if tag is None:
            return False
        closing, name, attributes = tag.groups()
        position = tag.end()
        if name not in policy.tags or name in policy.set_attributes:
            return False
        if closing:
            if attributes or not open_elements or open_elements.pop() != name:
                return False
        elif not _attributes_kept(name, attributes, policy):
            return False
        elif name not in _VOID:
            open_elements.append(name)
    # A ">" outside a tag is text the backends write as "&gt;" (markdown-it does too).
    return not open_elements and html.count(">") == tags


def _attributes_kept(tag: str, attributes: str, policy: Policy) -> bool:
    """Whether every attribute of a start tag stays as written."""
    seen: set[str] = set()
    for match in _ATTRIBUTE.finditer(attributes):
        name, value = match.group(1), unescape_attribute(match.group(2) or "")
        if name in seen:
            return False
        seen.add(name)
        if tag == "a" and name == "rel" and policy.link_rel is not None:
            if value != policy.link_rel:
                return False
        elif policy.attribute_problem(tag, name, value) is not None:
            return False
    if tag == "a" and policy.link_rel is not None:
        return ("href" in seen) == ("rel" in seen)
    return True
