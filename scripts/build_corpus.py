"""Rebuild renderer/harness/corpus/xss.jsonl: tag every payload with its
classes and source, and regenerate the generated groups.

    python scripts/build_corpus.py [--dompurify ../shared/corpora/dompurify-expect.mjs]

Hand-written payloads (every group not in GENERATED) are kept as they are;
those without classes get them from their group and their content. The
generated groups are rebuilt from the tables below, deterministically:

- ``dompurify-fixture``: DOMPurify's own test fixtures (test/fixtures/expect.mjs,
  Apache-2.0 or MPL-2.0, credited per payload with the fixture's title), those
  up to 300 characters not already in the corpus; kept as they are when the
  fixtures file is absent;
- ``handler-matrix``: event handlers that fire without a user, on the elements
  that fire them (PortSwigger's XSS cheat sheet lists them);
- ``scheme-matrix``: script-running URL schemes, obfuscated the ways the
  WHATWG URL parser forgives, in every place Markdown and HTML take a URL;
- ``split``: hostile payloads with an explicit cut at the worst place (inside
  the handler name, the scheme, the tag name), for streaming targets.

Run it again after editing the corpus by hand; tests/test_corpus.py checks
that every payload is tagged and credited.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "renderer" / "harness" / "corpus" / "xss.jsonl"
DOMPURIFY = ROOT.parent / "shared" / "corpora" / "dompurify-expect.mjs"
GENERATED = ("dompurify-fixture", "handler-matrix", "scheme-matrix", "split")

GROUP_CLASSES = {
    "script": ["script"],
    "event-handler": ["event-handler"],
    "url-html": ["url-scheme"],
    "url-attribute": ["url-scheme"],
    "markdown-url": ["markdown", "url-scheme"],
    "css": ["css"],
    "mxss": ["mutation-xss"],
    "dompurify": ["mutation-xss"],
    "html5sec": [],
    "polyglot": ["polyglot"],
    "markdown": ["markdown"],
    "streaming": ["split-chunks"],
    "encoding": ["encoding"],
    "dompurify-fixture": [],
}
GROUP_SOURCES = {
    "script": "OWASP XSS Filter Evasion Cheat Sheet",
    "event-handler": "PortSwigger Cross-site scripting cheat sheet",
    "url-html": "OWASP XSS Filter Evasion Cheat Sheet; PortSwigger; WHATWG URL Standard",
    "url-attribute": "OWASP; PortSwigger; html5sec.org",
    "markdown-url": "CommonMark spec; Markdown sanitizer bug reports",
    "css": "OWASP XSS Filter Evasion Cheat Sheet; html5sec.org",
    "mxss": "DOMPurify bypass history; Michał Bentkowski's write-ups; html5sec.org",
    "dompurify": "DOMPurify README, 'Attack Classes & Bypass History'",
    "html5sec": "HTML5 Security Cheatsheet (html5sec.org)",
    "polyglot": "0xsobky's XSS polyglot; Gareth Heyes",
    "markdown": "CommonMark spec",
    "streaming": "this project (renderer engine's streaming states)",
    "encoding": "OWASP XSS Filter Evasion Cheat Sheet; WHATWG Encoding Standard",
}

CONTENT_CLASSES = (
    ("event-handler", re.compile(r"[\s/\"']on[a-z]+\s*=", re.I)),
    (
        "url-scheme",
        re.compile(
            r"(java|vb)\s*(&[#\w]+;?|\s)*s\s*c\s*r\s*i\s*p\s*t\s*(:|&colon;|&#0*58;?|&#x0*3a;?)|\bdata\s*:", re.I
        ),
    ),
    ("namespace-confusion", re.compile(r"<\s*(svg|math)\b", re.I)),
    ("css", re.compile(r"style\s*[=>]|expression\s*\(|@import", re.I)),
    ("script", re.compile(r"<\s*/?\s*script", re.I)),
    (
        "dom-clobbering",
        re.compile(
            r"\b(id|name)\s*=\s*[\"']?(cookie|location|body|forms|getElementById|attributes|nodeName|innerHTML|createElement|implementation|__xss)",
            re.I,
        ),
    ),
    (
        "mutation-xss",
        re.compile(
            r"<\s*(noscript|template|xmp|noembed|noframes|plaintext|foreignobject|mglyph|malignmark|annotation-xml)|<!\[CDATA\[|<\?",
            re.I,
        ),
    ),
    ("markdown", re.compile(r"\]\(|^\s{0,3}(\[[^\]]+\]:|#{1,6}\s|```|>\s|[-*+]\s)|<https?:|\|\s*-", re.M)),
    ("encoding", re.compile(r"&#x?0*\d+;?|&[a-z]+;|\+ADw-|[\u200b-\u200f\ufeff\uff1c\uff1e]|\\u00", re.I)),
)

HANDLERS = [
    ("img", "onerror", "<img src=x {h}=__xss=1>"),
    ("image", "onerror", "<svg><image href=x {h}=__xss=1></svg>"),
    ("video", "onerror", "<video src=x {h}=__xss=1></video>"),
    ("audio", "onerror", "<audio src=x {h}=__xss=1></audio>"),
    ("video-source", "onerror", "<video><source src=x {h}=__xss=1></video>"),
    ("input-image", "onerror", "<input type=image src=x {h}=__xss=1>"),
    ("object", "onerror", "<object data=x {h}=__xss=1></object>"),
    ("script", "onerror", "<script src=x {h}=__xss=1></script>"),
    ("link", "onerror", "<link rel=stylesheet href=x {h}=__xss=1>"),
    ("svg", "onload", "<svg {h}=__xss=1>"),
    ("svg-nested", "onload", "<svg><svg {h}=__xss=1></svg></svg>"),
    ("body", "onload", "<body {h}=__xss=1>"),
    ("iframe", "onload", "<iframe {h}=__xss=1></iframe>"),
    ("style", "onload", "<style {h}=__xss=1></style>"),
    ("details", "ontoggle", "<details open {h}=__xss=1><summary>x</summary></details>"),
    ("input-autofocus", "onfocus", "<input autofocus {h}=__xss=1>"),
    ("textarea-autofocus", "onfocus", "<textarea autofocus {h}=__xss=1></textarea>"),
    ("select-autofocus", "onfocus", "<select autofocus {h}=__xss=1></select>"),
    ("a-tabindex-autofocus", "onfocus", "<a id=x tabindex=1 autofocus {h}=__xss=1>x</a>"),
    ("div-contenteditable", "onfocus", "<div contenteditable autofocus {h}=__xss=1>x</div>"),
    ("marquee", "onstart", "<marquee {h}=__xss=1>x</marquee>"),
    ("animate", "onbegin", "<svg><animate {h}=__xss=1 attributeName=x dur=1s>"),
    ("set", "onbegin", "<svg><set {h}=__xss=1 attributeName=x to=1>"),
    ("video-play", "onplay", "<video autoplay muted src=x {h}=__xss=1></video>"),
    ("audio-canplay", "oncanplay", "<audio autoplay src=x {h}=__xss=1></audio>"),
    ("img-load", "onload", '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" {h}=__xss=1>'),
    ("form-submit", "onsubmit", "<form {h}=__xss=1><button>x</button></form>"),
    ("any-pointer", "onpointerover", "<b {h}=__xss=1>hover</b>"),
    ("any-click", "onclick", "<p {h}=__xss=1>click</p>"),
    ("animationstart", "onanimationstart", '<b style="animation:x 1s" {h}=__xss=1>x</b>'),
    ("transitionend", "ontransitionend", '<b style="transition:color 1s" {h}=__xss=1>x</b>'),
    ("contentvisibility", "oncontentvisibilityautostatechange", '<p style="content-visibility:auto" {h}=__xss=1>x</p>'),
    ("scrollend", "onscrollend", '<div style="overflow:auto;height:1px" {h}=__xss=1>x<br>y</div>'),
    ("beforetoggle", "onbeforetoggle", "<div popover id=p {h}=__xss=1>x</div>"),
]
SPELLINGS = [
    ("plain", lambda h: h),
    ("upper", lambda h: h.upper()),
    ("slash", lambda h: "/" + h),
]

SCHEMES = [
    ("javascript", "javascript:__xss=1"),
    ("mixed-case", "JaVaScRiPt:__xss=1"),
    ("tab", "java\tscript:__xss=1"),
    ("newline", "java\nscript:__xss=1"),
    ("leading-space", " javascript:__xss=1"),
    ("leading-control", "\u0001javascript:__xss=1"),
    ("entity-decimal", "&#106;avascript:__xss=1"),
    ("entity-hex", "&#x6A;avascript:__xss=1"),
    ("entity-colon", "javascript&colon;__xss=1"),
    ("entity-tab", "java&Tab;script:__xss=1"),
    ("vbscript", "vbscript:msgbox(1)"),
    ("data-html", "data:text/html,<script>parent.__xss=1</script>"),
    ("data-base64", "data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX194c3M9MTwvc2NyaXB0Pg=="),
]
CONTEXTS = [
    ("md-link", "[click]({u})", True),
    ("md-image", "![x]({u})", True),
    ("md-reference", "[click][r]\n\n[r]: {u}", True),
    ("md-link-angle", "[click](<{u}>)", True),
    ("html-a", '<a href="{u}">click</a>', False),
    ("html-iframe", '<iframe src="{u}"></iframe>', False),
    ("html-form", '<form action="{u}"><button>go</button></form>', False),
    ("svg-a", '<svg><a xlink:href="{u}"><text y=20>click</text></a></svg>', False),
]

# Where to cut hostile payloads so no prefix shows the danger whole.
SPLIT_AT = re.compile(r"on[a-z]*|java|script|<(?=[a-z])|&#|src|href", re.I)


def classes_for(group: str, payload: str, given: list[str] | None = None) -> list[str]:
    found = list(given or GROUP_CLASSES.get(group, []))
    for name, pattern in CONTENT_CLASSES:
        if pattern.search(payload) and name not in found:
            found.append(name)
    return found or ["mutation-xss"]


def record(
    name: str, payload: str, classes: list[str], source: str, chunks: list[str] | None = None
) -> dict[str, object]:
    out: dict[str, object] = {"name": name, "payload": payload, "classes": classes, "source": source}
    if chunks:
        out["chunks"] = chunks
    return out


def dompurify_fixtures(path: Path, seen: set[str]) -> list[dict[str, object]]:
    text = path.read_text(encoding="utf-8").strip().removeprefix("export default").strip()
    fixtures = json.loads(re.sub(r",(\s*[\]}])", r"\1", text.rstrip(";")))
    out = []
    for index, fixture in enumerate(fixtures):
        payload = fixture.get("payload")
        if not isinstance(payload, str) or len(payload) > 300 or payload in seen or "<" not in payload:
            continue
        seen.add(payload)
        title = " ".join(str(fixture.get("title", "")).split())[:120]
        source = f"DOMPurify test/fixtures/expect.mjs #{index}: {title} (Apache-2.0 OR MPL-2.0)"
        out.append(record(f"dompurify-fixture/{index:03d}", payload, classes_for("dompurify-fixture", payload), source))
    return out


def handler_matrix(seen: set[str]) -> list[dict[str, object]]:
    out = []
    for element, handler, template in HANDLERS:
        for spelling, spell in SPELLINGS:
            payload = template.format(h=spell(handler))
            if payload in seen:
                continue
            seen.add(payload)
            name = f"handler-matrix/{element}-{handler}-{spelling}"
            source = "PortSwigger Cross-site scripting cheat sheet (events that fire without a user)"
            out.append(record(name, payload, classes_for("event-handler", payload, ["event-handler"]), source))
    return out


def scheme_matrix(seen: set[str]) -> list[dict[str, object]]:
    out = []
    for context, template, markdown in CONTEXTS:
        for label, url in SCHEMES:
            if markdown and ("\n" in url or "<" in url) and context != "md-link-angle":
                continue
            payload = template.format(u=url)
            if payload in seen:
                continue
            seen.add(payload)
            given = ["url-scheme", "markdown"] if markdown else ["url-scheme"]
            if "&" in url or "\t" in url or "\u0001" in url:
                given.append("encoding")
            source = "OWASP XSS Filter Evasion Cheat Sheet; WHATWG URL Standard (what the parser forgives)"
            out.append(record(f"scheme-matrix/{context}-{label}", payload, classes_for("", payload, given), source))
    return out


def splits(records: list[dict[str, object]], seen: set[str]) -> list[dict[str, object]]:
    out = []
    for item in records:
        payload, name = str(item["payload"]), str(item["name"])
        group = name.split("/", 1)[0]
        if group not in ("event-handler", "url-html", "script", "markdown-url", "mxss") or len(payload) > 80:
            continue
        match = SPLIT_AT.search(payload)
        if match is None:
            continue
        cut = match.start() + max(1, (match.end() - match.start()) // 2)
        chunks = [payload[:cut], payload[cut:]]
        variant = payload + "\n"  # a distinct text: the corpus holds each payload once
        if variant in seen or len(out) >= 120:
            continue
        seen.add(variant)
        chunks[-1] += "\n"
        classes = ["split-chunks", *[c for c in item["classes"] if c != "split-chunks"]]  # type: ignore[attr-defined]
        source = f"this project: {name} cut at {cut}"
        out.append(record(f"split/{name.split('/', 1)[1]}", variant, classes, source, chunks))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dompurify", type=Path, default=DOMPURIFY)
    args = parser.parse_args()
    existing = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").split("\n") if line.strip()]
    kept = [r for r in existing if r["name"].split("/", 1)[0] not in GENERATED]
    old_fixtures = [r for r in existing if r["name"].startswith("dompurify-fixture/")]
    for item in kept:
        group = item["name"].split("/", 1)[0]
        item["classes"] = item.get("classes") or classes_for(group, item["payload"])
        item["source"] = item.get("source") or GROUP_SOURCES.get(group, "this project")
    seen = {r["payload"] for r in kept}
    fixtures = dompurify_fixtures(args.dompurify, seen) if args.dompurify.is_file() else old_fixtures
    generated = [*fixtures, *handler_matrix(seen), *scheme_matrix(seen)]
    generated += splits(kept, seen)
    everything = [*kept, *generated]
    with CORPUS.open("w", encoding="utf-8") as file:
        for item in everything:
            out = {key: item[key] for key in ("name", "payload", "classes", "source", "chunks") if key in item}
            file.write(json.dumps(out) + "\n")  # ASCII, as the corpus always was
    print(f"{CORPUS.relative_to(ROOT)}: {len(everything)} payloads ({len(kept)} by hand, {len(generated)} generated)")


if __name__ == "__main__":
    main()
