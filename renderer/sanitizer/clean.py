"""The HTML allowlist for rendered Markdown, and the sanitizers that apply it.

Markdown lets authors write raw HTML, so everything the renderer emits goes
through one ``Sanitizer``: a policy (what may stay: data, the constants below)
applied by a backend. ``BleachSanitizer`` is the default; ``NH3Sanitizer``
applies the same policy with nh3 (ammonia), about 30 times faster.

What the output promises, whichever backend:

- only the policy's elements and attributes; links and images only with the
  policy's URL schemes, judged as a browser reads the URL (see ``_urls``);
- every link with an ``href`` gets ``rel="nofollow noopener noreferrer"``;
- a well-formed fragment (every element it opens, it closes), so sanitized
  fragments can be concatenated without one changing what another means;
- a fixed point: ``sanitize(sanitize(x)) == sanitize(x)``.

HTML already in the policy's terms (most of what the Markdown renderer
writes) is recognized by a linear scan and kept as it is (``verify``);
only the rest goes through a backend.

``check_allowlist`` re-checks any HTML against a policy with a different
parser (the standard library's), for tests and for code that assembles
sanitized pieces.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Any

from bleach import html5lib_shim  # type: ignore[import-untyped]
from bleach.sanitizer import (  # type: ignore[import-untyped]
    INVISIBLE_CHARACTERS_RE,
    INVISIBLE_REPLACEMENT_CHAR,
    BleachSanitizerFilter,
)

from .urls import is_allowed_url, unescape_attribute
from .verify import already_clean

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "ATTRIBUTE_VALUES",
    "CODE_LANGUAGE",
    "DEFAULT_POLICY",
    "DEFAULT_SANITIZER",
    "DROP_CONTENT_TAGS",
    "LINK_REL",
    "MATHML_ATTRIBUTES",
    "MATHML_TAGS",
    "MATHML_TEX_ENCODING",
    "SANITIZERS",
    "SET_ATTRIBUTES",
    "URL_SCHEMES",
    "BackendUnavailable",
    "BleachSanitizer",
    "Cleaned",
    "NH3Sanitizer",
    "Policy",
    "Sanitizer",
    "check_allowlist",
    "clean",
    "escape_text",
    "make_sanitizer",
    "normalize_text",
    "sanitize",
]

logger = logging.getLogger(__name__)

#: Elements kept: what Markdown renders plus the inline HTML authors write.
ALLOWED_TAGS = frozenset(
    {
        # what markdown-it renders
        "a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "img", "li", "ol", "p", "pre", "strong", "ul",
        # tables and strikethrough (GFM)
        "caption", "s", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
        # raw HTML that authors write in Markdown
        "abbr", "b", "cite", "dd", "del", "details", "div", "dl", "dt",
        "figcaption", "figure", "i", "ins", "kbd", "mark", "q", "samp",
        "small", "span", "sub", "summary", "sup", "u", "var",
        # task lists (always a disabled checkbox: ``SET_ATTRIBUTES``) and footnotes
        "input", "section",
    }
)  # fmt: skip

#: MathML Core presentation elements, kept only inside ``<math>`` and
#: holding only MathML and text (no HTML element, no ``annotation-xml``,
#: no ``maction``, nothing from SVG). Never in ``ALLOWED_TAGS``.
MATHML_TAGS = frozenset(
    {
        "math", "mi", "mn", "mo", "ms", "mtext", "mspace", "mrow", "mfrac",
        "msqrt", "mroot", "mstyle", "merror", "mpadded", "mphantom", "msub",
        "msup", "msubsup", "munder", "mover", "munderover", "mmultiscripts",
        "mprescripts", "none", "mtable", "mtr", "mtd", "semantics", "annotation",
    }
)  # fmt: skip

#: The only ``<annotation encoding>``: the TeX a formula was written in.
MATHML_TEX_ENCODING = "application/x-tex"

_BLOCK_DIR = frozenset({"dir"})

#: Attributes kept on MathML elements: layout only (no ``href``, no
#: ``style``, no ``class``/``id``, nothing that loads or links).
MATHML_ATTRIBUTES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "math": frozenset({"display"}),
        "mi": frozenset({"mathvariant"}),
        "mo": frozenset(
            {"form", "fence", "separator", "lspace", "rspace", "stretchy", "symmetric",
             "maxsize", "minsize", "largeop", "movablelimits", "accent"}
        ),
        "mfrac": frozenset({"linethickness"}),
        "mspace": frozenset({"width", "height", "depth"}),
        "mpadded": frozenset({"width", "height", "depth", "lspace", "voffset"}),
        "mstyle": frozenset({"displaystyle", "scriptlevel"}),
        "mtable": frozenset({"displaystyle", "scriptlevel"}),
        "mtd": frozenset({"columnspan", "rowspan"}),
        "mover": frozenset({"accent"}),
        "munder": frozenset({"accentunder"}),
        "munderover": frozenset({"accent", "accentunder"}),
        "annotation": frozenset({"encoding"}),
    }
)  # fmt: skip

#: Attributes kept, per element. ``rel`` on links is not here: it is set,
#: never taken from the input (``LINK_REL``).
ALLOWED_ATTRIBUTES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "a": frozenset({"href", "title", "id"}),
        "abbr": frozenset({"title"}),
        "code": frozenset({"class"}),
        "details": frozenset({"open"}),
        "img": frozenset({"src", "alt", "title", "width", "height"}),
        "ol": frozenset({"start"}),
        "span": frozenset({"class"}),
        "td": frozenset({"align", "colspan", "rowspan", "dir"}),
        "th": frozenset({"align", "colspan", "rowspan", "dir"}),
        # dir="auto" on blocks: right-to-left paragraphs laid out as such
        "p": _BLOCK_DIR, "li": frozenset({"dir", "id"}), "blockquote": _BLOCK_DIR,
        "h1": _BLOCK_DIR, "h2": _BLOCK_DIR, "h3": _BLOCK_DIR, "h4": _BLOCK_DIR,
        "h5": _BLOCK_DIR, "h6": _BLOCK_DIR,
        # task list checkboxes
        "input": frozenset({"type", "checked", "disabled"}),
        **MATHML_ATTRIBUTES,
    }
)  # fmt: skip

#: URL attributes and the schemes each accepts; relative URLs always pass.
URL_SCHEMES: Mapping[tuple[str, str], frozenset[str]] = MappingProxyType(
    {
        ("a", "href"): frozenset({"http", "https", "mailto"}),
        ("img", "src"): frozenset({"http", "https"}),
    }
)

#: A fenced code block's language, as the Markdown renderer may emit it in
#: ``class="language-X"``; anything else could smuggle other classes in.
CODE_LANGUAGE = re.compile(r"[A-Za-z0-9_+#-]{1,40}")

# A MathML layout value: a keyword, a number or a length (no url(), no quotes).
_MATHML_VALUE = re.compile(r"[A-Za-z0-9.+-]{0,32}")

#: Attributes whose whole (decoded) value must match a pattern.
ATTRIBUTE_VALUES: Mapping[tuple[str, str], re.Pattern[str]] = MappingProxyType(
    {
        ("code", "class"): re.compile("language-" + CODE_LANGUAGE.pattern),
        # Pygments' short token classes, as renderer.markdown.highlight writes them
        ("span", "class"): re.compile("hl-[a-z0-9]{1,4}"),
        ("td", "align"): re.compile("left|center|right"),
        ("th", "align"): re.compile("left|center|right"),
        **{
            (tag, "dir"): re.compile("auto|ltr|rtl")
            for tag in ("p", "li", "blockquote", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6")
        },
        # footnotes: their anchors only (ids from user text could clobber globals)
        ("a", "id"): re.compile(r"fnref[0-9]{1,4}(?::[0-9]{1,4})?"),
        ("li", "id"): re.compile("fn[0-9]{1,4}"),
        ("input", "type"): re.compile("checkbox"),
        ("input", "checked"): re.compile("|checked"),
        ("input", "disabled"): re.compile("|disabled"),
        # "/" written \x2f: JavaScript's RegExp.source would escape a bare one
        ("annotation", "encoding"): re.compile(r"application\x2fx-tex"),
        **{
            (tag, name): _MATHML_VALUE
            for tag, names in MATHML_ATTRIBUTES.items()
            for name in names
            if (tag, name) != ("annotation", "encoding")
        },
    }
)

#: Attributes set on every element of a kind, whatever the input said: a
#: checkbox is always a disabled checkbox (no text field, nothing to submit).
SET_ATTRIBUTES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {"input": MappingProxyType({"type": "checkbox", "disabled": "disabled"})}
)

#: Elements removed together with their content: raw-text and foreign
#: elements, whose content is script, CSS, or markup a browser parses by
#: other rules (the root of past mXSS bugs), and embedded documents.
DROP_CONTENT_TAGS = frozenset(
    {
        "annotation-xml", "applet", "embed", "frame", "frameset", "iframe", "maction", "noembed",
        "noframes", "noscript", "object", "plaintext", "script", "select",
        "style", "svg", "template", "textarea", "title", "xmp",
    }
)  # fmt: skip

#: Set on every link with an href: no SEO credit for user content, no
#: ``window.opener`` for the target, no referrer leak.
LINK_REL = "nofollow noopener noreferrer"

# Attributes whose value a browser fetches or follows as a URL.
_URL_ATTRIBUTES = frozenset(
    {
        "action", "background", "cite", "codebase", "data", "formaction", "href",
        "icon", "longdesc", "manifest", "ping", "poster", "src", "xlink:href",
    }
)  # fmt: skip
_COMMENT = "<!-- comment -->"
_SHOWN_VALUE_MAX = 40
_SURROGATES = re.compile("[\ud800-\udfff]")
_UNSHOWABLE = re.compile(r'[\x00-\x1f\x7f"\\]')
_LONG_NUMERIC = re.compile(r"&#(?:[xX][0-9A-Fa-f]{9,}|[0-9]{9,});?")


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """What may stay in sanitized HTML. Data only; backends apply it.

    Raises ValueError for a policy no backend can apply safely: ``style`` or
    event-handler attributes (there is no CSS or script sanitizer behind
    them), a URL attribute without ``url_schemes``, ``srcset`` (a list of
    URLs), an element both kept and dropped with its content, or ``rel`` on
    links when ``link_rel`` sets it.
    """

    #: Elements kept (lowercase names).
    tags: frozenset[str] = ALLOWED_TAGS
    #: Attributes kept, per element.
    attributes: Mapping[str, frozenset[str]] = field(default_factory=lambda: ALLOWED_ATTRIBUTES)
    #: Schemes allowed per URL attribute ``(element, attribute)``.
    url_schemes: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=lambda: URL_SCHEMES)
    #: Patterns an attribute's whole value must match.
    attribute_values: Mapping[tuple[str, str], re.Pattern[str]] = field(default_factory=lambda: ATTRIBUTE_VALUES)
    #: Elements removed with everything inside them.
    drop_content_tags: frozenset[str] = DROP_CONTENT_TAGS
    #: ``rel`` for every ``<a href>``; None leaves links without one.
    link_rel: str | None = LINK_REL
    #: MathML elements kept inside ``<math>`` (``math`` among them); their
    #: attributes are in ``attributes`` like any element's.
    mathml_tags: frozenset[str] = MATHML_TAGS
    #: Attributes set on every element of a kind (``<input type=checkbox disabled>``).
    set_attributes: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: SET_ATTRIBUTES)

    def __post_init__(self) -> None:
        for tag, names in self.attributes.items():
            for name in names:
                unchecked_url = name in _URL_ATTRIBUTES and (tag, name) not in self.url_schemes
                if name in ("style", "srcset") or name.startswith("on") or unchecked_url:
                    raise ValueError(f"policy may not allow <{tag} {name}>")
        if both := (self.tags | self.mathml_tags) & self.drop_content_tags:
            raise ValueError(f"tags both kept and dropped: {sorted(both)}")
        if both := self.tags & self.mathml_tags:
            raise ValueError(f"tags both HTML and MathML: {sorted(both)}")
        if self.link_rel is not None and "rel" in self.attributes.get("a", ()):
            raise ValueError("policy may not allow <a rel>: link_rel sets it")

    def attribute_problem(self, tag: str, name: str, value: str) -> str | None:
        """Why ``name=value`` may not stay on ``tag``, as a ``removed`` entry.

        value is the attribute as the browser decodes it. None: it may stay.
        """
        if name not in self.attributes.get(tag, ()):
            return f"<{tag} {name}>"
        schemes = self.url_schemes.get((tag, name))
        pattern = self.attribute_values.get((tag, name))
        if (schemes is not None and not is_allowed_url(value, schemes)) or (
            pattern is not None and not pattern.fullmatch(value)
        ):
            return f'<{tag} {name}="{_show(value)}">'
        return None


DEFAULT_POLICY = Policy()


@dataclass(slots=True)
class Cleaned:
    """Sanitized HTML and what was taken out of it."""

    #: The sanitized fragment.
    html: str
    #: What was removed, in document order, without repeats: ``"<script>"``
    #: (an element), ``"<a onclick>"`` (an attribute), ``'<a href="...">'``
    #: (a refused value), ``"<!-- comment -->"``.
    removed: list[str] = field(default_factory=list)


class Sanitizer:
    """Turns untrusted HTML into HTML that keeps only what ``policy`` allows.

    The contract every backend keeps:

    - ``clean(html)`` accepts any str and returns a ``Cleaned``; it never
      raises for odd markup (if a backend fails, the whole input comes back
      escaped as text).
    - The output keeps only the policy's elements, attributes and URL
      schemes; disallowed elements are removed, keeping their text except
      for ``policy.drop_content_tags``, whose content goes too; comments go.
    - The output is well-formed and a fixed point of ``clean``.
    - Instances are safe to share between threads.

    Backends implement ``clean_once``; ``clean`` adds what they share.
    """

    #: Unwrapping an element can leave markup that parses into another tree
    #: (``<dd><button><dt>`` held a ``<dt>`` inside a ``<dd>``), so such
    #: output is cleaned again until it is stable; one more pass has been
    #: enough for every input found so far.
    max_passes = 4

    def __init__(self, policy: Policy = DEFAULT_POLICY) -> None:
        self.policy = policy

    def clean_once(self, html: str, *, report: bool = True) -> Cleaned:
        """One pass of the backend over html (free of lone surrogates).

        report=False: the caller ignores ``removed``, so a backend that
        computes it separately may skip that.
        """
        raise NotImplementedError

    def may_be_unstable(self, html: str, first: Cleaned) -> bool:
        """Whether the first pass's output might change in another pass:
        by default, when something was unwrapped or dropped."""
        return bool(first.removed)

    def clean(self, html: str) -> Cleaned:
        """Sanitize html and say what was removed."""
        if already_clean(html, self.policy):
            return Cleaned(html, [])  # markdown-it's own output, mostly: nothing to take out
        text = _SURROGATES.sub("\ufffd", html)
        try:
            result = self.clean_once(text)
            for _ in range(self.max_passes if self.may_be_unstable(text, result) else 0):
                again = self.clean_once(result.html, report=False).html
                if again == result.html:
                    break
                result.html = again
        except NotImplementedError:
            raise
        except Exception:  # fail closed: a parser bug must not take the stream down
            logger.exception("%s failed; escaping the input as text", type(self).__name__)
            return Cleaned(escape_text(text), ["<!-- unparsable input -->"])
        result.removed = list(dict.fromkeys(result.removed))
        return result

    def __call__(self, html: str) -> str:
        """Sanitize html."""
        return self.clean(html).html


class BleachSanitizer(Sanitizer):
    """The policy applied with bleach's html5lib pipeline, plus our filters.

    bleach's ``Cleaner`` cannot drop an element's content, record what it
    removes, or check URLs as a browser does, so this runs the pipeline it is
    made of: parse, drop ``drop_content_tags`` subtrees, bleach's sanitizer
    filter (extended), set ``rel``, serialize.
    """

    def __init__(self, policy: Policy = DEFAULT_POLICY) -> None:
        super().__init__(policy)
        self._local = threading.local()  # bleach's parser is not thread-safe

    def clean_once(self, html: str, *, report: bool = True) -> Cleaned:
        removed: list[str] = []
        return Cleaned(self._pass(html, removed), removed)

    def _pass(self, text: str, removed: list[str]) -> str:
        local = self._local
        if not hasattr(local, "parser"):
            local.parser = html5lib_shim.BleachHTMLParser(
                tags=None,  # a full tree: our filters see (and record) every element
                strip=False,
                consume_entities=False,
                namespaceHTMLElements=False,
            )
            local.serializer = html5lib_shim.BleachHTMLSerializer(
                quote_attr_values="always",
                omit_optional_tags=False,
                escape_lt_in_attrs=True,
                resolve_entities=False,
                sanitize=False,
                alphabetical_attributes=False,
            )
        walker = html5lib_shim.getTreeWalker("etree")
        stream: Any = walker(local.parser.parseFragment(text))
        stream = _DropContent(stream, self.policy, removed)
        stream = _PolicyFilter(stream, self.policy, removed)
        stream = _LinkRel(stream, self.policy.link_rel, self.policy.set_attributes)
        stream = _KeepLeadingNewline(stream)
        return str(local.serializer.render(stream))


class NH3Sanitizer(Sanitizer):
    """The policy applied with nh3 (ammonia, html5ever): much faster.

    nh3 does not say what it removed, so ``removed`` is coarser than
    bleach's: what ``check_allowlist`` finds in the input (a stdlib-parser
    scan), which on malformed markup may name a little more or less than nh3
    actually removed. That scan costs several times nh3's own run; pass
    ``report_removed=False`` to skip it (``removed`` is then always empty).
    nh3 is imported here, so it stays an optional dependency.
    """

    def __init__(self, policy: Policy = DEFAULT_POLICY, *, report_removed: bool = True) -> None:
        super().__init__(policy)
        import nh3

        self.report_removed = report_removed

        schemes = set().union(*policy.url_schemes.values())
        self._mathml = BleachSanitizer(policy) if policy.mathml_tags else None
        self._cleaner = nh3.Cleaner(
            tags=set(policy.tags | policy.mathml_tags),
            clean_content_tags=set(policy.drop_content_tags),
            attributes={tag: set(names) for tag, names in policy.attributes.items()},
            attribute_filter=self._attribute_filter,
            strip_comments=True,
            link_rel=policy.link_rel,
            url_schemes=schemes,
            url_relative="pass_through",
            set_tag_attribute_values={tag: dict(values) for tag, values in policy.set_attributes.items()},
        )

    def _attribute_filter(self, tag: str, name: str, value: str) -> str | None:
        if tag == "a" and name == "rel" and value == self.policy.link_rel:
            return value  # nh3 filters the rel it adds, too
        return None if self.policy.attribute_problem(tag, name, value) else value

    def clean_once(self, html: str, *, report: bool = True) -> Cleaned:
        out = _PRE_NEWLINE.sub(_keep_pre_newline, self._cleaner.clean(html))
        if self._mathml is not None and _MATHML_START.search(out):
            # ammonia keeps HTML elements inside <math> (at its integration
            # points) and MathML names outside it: bleach's pass knows the
            # namespaces and drops both.
            out = self._mathml.clean_once(out, report=False).html
        if not (report and self.report_removed):
            return Cleaned(out, [])
        return Cleaned(out, _scan(html, self.policy, managed_rel=True))

    def may_be_unstable(self, html: str, first: Cleaned) -> bool:
        return first.html != html  # another nh3 pass is cheap


_MATHML_START = re.compile(r"<math\b", re.IGNORECASE)

# In html5ever's output text has no raw "<" and attribute values are
# double-quoted without '"' inside, so this finds every tag and only tags.
_PRE_NEWLINE = re.compile(r'<(?:[^">]|"[^"]*")*>\n?')


def _keep_pre_newline(match: re.Match[str]) -> str:
    """Doubles a newline that starts a ``<pre>`` (see _KeepLeadingNewline)."""
    tag = match[0]
    return tag + "\n" if tag == "<pre>\n" else tag


DEFAULT_SANITIZER: Sanitizer = BleachSanitizer()


def sanitize(html: str) -> str:
    """Sanitize html with the default policy and backend."""
    return DEFAULT_SANITIZER.clean(html).html


def clean(html: str) -> Cleaned:
    """Sanitize html with the default policy and backend; say what was removed."""
    return DEFAULT_SANITIZER.clean(html)


def escape_text(text: str) -> str:
    """Escape text exactly as ``sanitize`` would leave it inside an element.

    Code shown while it streams is escaped here, not sanitized, and must not
    change when the finished block is sanitized later: so besides ``&<>``
    this does what the parser and bleach do to text (CR/CRLF become LF,
    invisible control characters become "?", lone surrogates become U+FFFD),
    and writes U+00A0 as ``&nbsp;`` as nh3 does, so that either backend
    leaves the result as it is.
    """
    text = normalize_text(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\xa0", "&nbsp;")  # what nh3 writes; bleach keeps both


def normalize_text(text: str) -> str:
    """Text as it comes out of the sanitizer, before escaping: lone surrogates
    as U+FFFD, CR and CRLF as LF, invisible control characters as "?"."""
    text = _SURROGATES.sub("\ufffd", text).replace("\r\n", "\n").replace("\r", "\n")
    return str(INVISIBLE_CHARACTERS_RE.sub(INVISIBLE_REPLACEMENT_CHAR, text))


def check_allowlist(html: str, policy: Policy = DEFAULT_POLICY) -> list[str]:
    """What in html the policy does not allow, in the ``removed`` format.

    Parsed with the standard library's ``html.parser``, independent of the
    html5lib parser the sanitizer uses, so a sanitizer bug is not hidden by
    the same parser quirk. Strict for sanitized output: comments,
    declarations, ``style`` and ``on*`` attributes, and links without the
    policy's ``rel`` are violations too.
    """
    return _scan(html, policy, managed_rel=False)


def _show(value: str) -> str:
    """value, short and printable, for a ``removed`` entry."""
    if len(value) > _SHOWN_VALUE_MAX:
        value = value[: _SHOWN_VALUE_MAX - 1] + "\u2026"
    return _UNSHOWABLE.sub(lambda m: f"\\x{ord(m[0]):02x}", value)


def _scan(html: str, policy: Policy, *, managed_rel: bool) -> list[str]:
    checker = _AllowlistChecker(policy, managed_rel=managed_rel)
    # html.parser decodes "&#<5000 digits>;" with int(), which refuses it.
    html = _LONG_NUMERIC.sub(lambda m: f"&#x{ord(unescape_attribute(m[0])):X};", html)
    try:
        checker.feed(html)
        checker.close()
    except Exception as exc:  # never seen; a checker must not crash its caller
        checker.found.append(f"<!-- unparsable: {type(exc).__name__} -->")
    return list(dict.fromkeys(checker.found))


class _AllowlistChecker(HTMLParser):
    """Collects what a policy does not allow; managed_rel: ``rel`` on links
    is ours to set (scanning input) rather than checked (scanning output)."""

    def __init__(self, policy: Policy, *, managed_rel: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.policy = policy
        self.managed_rel = managed_rel
        self.found: list[str] = []
        self.math: list[str] = []
        """The open elements of a ``<math>``, itself included."""

    def _allowed(self, tag: str) -> bool:
        """MathML only inside ``<math>`` (``math`` itself only outside), HTML only outside."""
        if self.math:
            return tag in self.policy.mathml_tags and tag != "math"
        return tag in self.policy.tags or (tag == "math" and tag in self.policy.mathml_tags)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs)
        if self.math or tag == "math":
            self.math.append(tag)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._allowed(tag):
            self.found.append(f"<{tag}>")
            return
        for name, wanted in self.policy.set_attributes.get(tag, {}).items():
            if not any(have == name and (given or "") in ("", wanted) for have, given in attrs):
                self.found.append(f"<{tag}> without {name}")
        names = {name for name, _ in attrs}
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") or name == "style":
                self.found.append(f"<{tag} {name}>")
            elif tag == "a" and name == "rel" and self.policy.link_rel is not None:
                if not self.managed_rel and value != self.policy.link_rel:
                    self.found.append(f'<a rel="{_show(value)}">')
            elif problem := self.policy.attribute_problem(tag, name, value):
                self.found.append(problem)
        wants_rel = tag == "a" and "href" in names and self.policy.link_rel is not None
        if wants_rel and not self.managed_rel and "rel" not in names:
            self.found.append("<a href> without rel")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.math:
            if self.math[-1] != tag:
                self.found.append(f"</{tag}> inside <math>")
            self.math.pop()
        elif tag not in self.policy.tags and tag not in self.policy.mathml_tags:
            self.found.append(f"<{tag}>")

    def handle_comment(self, data: str) -> None:
        self.found.append(_COMMENT)

    def handle_decl(self, decl: str) -> None:
        self.found.append("<!declaration>")

    def unknown_decl(self, data: str) -> None:
        self.found.append("<!declaration>")

    def handle_pi(self, data: str) -> None:
        self.found.append("<?processing-instruction>")


# html5lib filters; tokens are dicts: {"type", "name", "namespace", "data"}.
_START = frozenset({"StartTag", "EmptyTag"})
_TAGS = frozenset({"StartTag", "EmptyTag", "EndTag"})
_HTML = html5lib_shim.namespaces["html"]
_MATHML = html5lib_shim.namespaces["mathml"]


class _DropContent(html5lib_shim.Filter):  # type: ignore[misc]
    """Drops ``drop_content_tags`` elements with their subtrees, and inside
    ``<math>`` every element that is not one of the policy's MathML elements
    in the MathML namespace (an HTML element there is where mutation XSS
    chains live), with its subtree.

    Runs on the tree the parser built, so ``<textarea>`` or ``<svg>`` content
    is exactly what a browser would put inside them.
    """

    def __init__(self, source: Any, policy: Policy, removed: list[str]) -> None:
        super().__init__(source)
        self.tags = policy.drop_content_tags
        self.mathml = policy.mathml_tags
        self.removed = removed

    def _dropped(self, name: str, namespace: str | None, math: int) -> bool:
        if name in self.tags:
            return True
        if math:  # inside <math>: MathML elements only, no second <math>
            return namespace != _MATHML or name not in self.mathml or name == "math"
        return namespace == _MATHML and (name != "math" or name not in self.mathml)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        depth = 0  # inside a dropped subtree
        math = 0  # open elements of a kept <math>, itself included
        for token in super().__iter__():
            kind = token["type"]
            if depth:
                depth += (kind == "StartTag") - (kind == "EndTag")
            elif kind in _START and self._dropped(token["name"], token.get("namespace"), math):
                self.removed.append(f"<{token['name']}>")
                depth = int(kind == "StartTag")
            else:
                if kind == "StartTag" and (math or token["name"] == "math"):
                    math += 1
                elif kind == "EndTag" and math:
                    math -= 1
                yield token


class _PolicyFilter(BleachSanitizerFilter):  # type: ignore[misc]
    """bleach's sanitizer filter, applying a Policy and recording removals.

    Attribute values are decoded as a browser would (bleach leaves character
    references in place), judged, and handed to the serializer re-encoded so
    that the browser sees exactly the value that was judged.
    """

    def __init__(self, source: Any, policy: Policy, removed: list[str]) -> None:
        super().__init__(
            source,
            allowed_tags=policy.tags,
            attributes=lambda tag, name, value: name in policy.attributes.get(tag, ()),
            allowed_protocols=set().union(*policy.url_schemes.values()),
            strip_disallowed_tags=True,
            strip_html_comments=True,
        )
        self.policy = policy
        self.removed = removed

    def sanitize_token(self, token: dict[str, Any]) -> Any:
        kind = token["type"]
        if kind in _TAGS:
            namespace = token.get("namespace")
            if namespace == _MATHML:  # _DropContent let only the policy's MathML through
                allowed = token["name"] in self.policy.mathml_tags
            else:
                allowed = namespace in (None, _HTML) and token["name"] in self.policy.tags
            if not allowed:
                if kind != "EndTag":
                    self.removed.append(f"<{token['name']}>")
                return None
            return self.allow_token(token)
        if kind == "Comment":
            self.removed.append(_COMMENT)
            return None
        if kind == "SpaceCharacters":
            # bleach only cleans "Characters": a form feed at the edge of a
            # text node would survive there but not in the middle of one.
            token["data"] = INVISIBLE_CHARACTERS_RE.sub(INVISIBLE_REPLACEMENT_CHAR, token["data"])
        return super().sanitize_token(token)

    def allow_token(self, token: dict[str, Any]) -> Any:
        if "data" not in token:  # an end tag
            return token
        tag = token["name"]
        kept: dict[tuple[str | None, str], str] = {}
        for (namespace, name), raw in token["data"].items():
            value = unescape_attribute(raw)
            if tag == "a" and name == "rel" and self.policy.link_rel is not None:
                continue  # set by _LinkRel, whatever the input said
            if namespace is not None:
                problem: str | None = f"<{tag} {name}>"
            else:
                problem = self.policy.attribute_problem(tag, name, value)
            if problem:
                self.removed.append(problem)
            else:
                # The serializer keeps "&amp;" as is and turns "<" and '"'
                # into references, so the browser decodes back to value.
                kept[(namespace, name)] = value.replace("&", "&amp;")
        token["data"] = dict(kept)
        token = super().allow_token(token)
        # bleach's own URL check may refuse what ours allowed (for example
        # "http://[", which urllib cannot parse): say so too.
        for namespace, name in kept.keys() - token["data"].keys():
            value = unescape_attribute(kept[(namespace, name)])
            self.removed.append(f'<{tag} {name}="{_show(value)}">')
        return token

    def sanitize_characters(self, token: dict[str, Any]) -> Any:
        tokens = super().sanitize_characters(token)
        if isinstance(tokens, list):
            for item in tokens:
                if item["type"] == "Entity" and item["name"].startswith("#"):
                    item["name"] = _canonical_numeric(item["name"])
        return tokens


def _canonical_numeric(name: str) -> str:
    """A numeric reference that the browser, html.parser and bleach all read
    alike: out-of-range ones (``&#0;``, ``&#xD800;``) and absurdly long ones
    (Python's int() refuses 4300+ digits) become the character they mean."""
    char = unescape_attribute(f"&{name};")
    if len(name) <= 8 and char != "\ufffd":
        return name
    return f"#x{ord(char):X}"


class _LinkRel(html5lib_shim.Filter):  # type: ignore[misc]
    """Sets the policy's ``rel`` on every link that has an href, and its
    ``set_attributes`` on every element they name."""

    def __init__(self, source: Any, rel: str | None, set_attributes: Mapping[str, Mapping[str, str]]) -> None:
        super().__init__(source)
        self.rel = rel
        self.set_attributes = set_attributes

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for token in super().__iter__():
            if token["type"] in _START:
                if self.rel is not None and token["name"] == "a" and (None, "href") in token["data"]:
                    token["data"][(None, "rel")] = self.rel
                for name, value in self.set_attributes.get(token["name"], {}).items():
                    token["data"][(None, name)] = value
            yield token


class _KeepLeadingNewline(html5lib_shim.Filter):  # type: ignore[misc]
    """Doubles a newline that starts a ``<pre>``'s text.

    The parser drops one newline right after ``<pre>``, so without this
    ``<pre>\\n\\nx`` would lose a newline on every pass (not a fixed point).
    """

    _ELEMENTS = frozenset({"pre", "listing", "textarea"})

    def __iter__(self) -> Iterator[dict[str, Any]]:
        after_start = False
        for token in super().__iter__():
            if after_start and token["type"] in ("Characters", "SpaceCharacters") and token["data"].startswith("\n"):
                token["data"] = "\n" + token["data"]
            after_start = token["type"] == "StartTag" and token["name"] in self._ELEMENTS
            yield token


SANITIZERS = ("bleach", "nh3")
"""The backends by name; the first is the default."""


class BackendUnavailable(RuntimeError):
    """An optional dependency the caller asked for is missing (nh3, Playwright)."""


def make_sanitizer(name: str, *, report_removed: bool = True) -> Sanitizer:
    """The default policy applied by the named backend (``SANITIZERS``).

    ``report_removed=False``: the caller never reads ``Cleaned.removed``, so
    a backend that works it out separately (nh3) may skip that. Raises
    ValueError for an unknown name, BackendUnavailable when nh3 is not
    installed.
    """
    if name == "bleach":
        return DEFAULT_SANITIZER
    if name == "nh3":
        try:
            return NH3Sanitizer(report_removed=report_removed)
        except ImportError:
            raise BackendUnavailable("the nh3 backend needs nh3: pip install 'renderer[nh3]'") from None
    raise ValueError(f"unknown sanitizer {name!r} (choose from {', '.join(SANITIZERS)})")
