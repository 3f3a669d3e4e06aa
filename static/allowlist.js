// The server's sanitizing policy (renderer/sanitize.py DEFAULT_POLICY), for
// the client's second check. tests/test_static.py keeps the two equal.

/** Elements that may appear. */
export const TAGS = new Set([
  "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "details", "div", "dl", "dt",
  "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
  "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table",
  "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
]);

/** Elements removed together with their content. */
export const DROP_CONTENT_TAGS = new Set([
  "applet", "embed", "frame", "frameset", "iframe", "math", "noembed", "noframes", "noscript", "object",
  "plaintext", "script", "select", "style", "svg", "template", "textarea", "title", "xmp",
]);

/** Attributes each element may carry. */
export const ATTRIBUTES = {
  a: new Set(["href", "rel", "title"]),
  abbr: new Set(["title"]),
  code: new Set(["class"]),
  details: new Set(["open"]),
  img: new Set(["alt", "height", "src", "title", "width"]),
  ol: new Set(["start"]),
  span: new Set(["class"]),
  td: new Set(["align", "colspan", "rowspan"]),
  th: new Set(["align", "colspan", "rowspan"]),
};

/** URL attributes and the schemes they may use (relative URLs always may). */
export const URL_SCHEMES = {
  "a href": new Set(["http", "https", "mailto"]),
  "img src": new Set(["http", "https"]),
};

/** Attributes whose whole value must match a pattern. */
export const ATTRIBUTE_VALUES = {
  "code class": /^(?:language-[A-Za-z0-9_+#-]{1,40})$/,
  "span class": /^(?:hl-[a-z0-9]{1,4})$/,
  "td align": /^(?:left|center|right)$/,
  "th align": /^(?:left|center|right)$/,
};

/** The rel every link carries. */
export const LINK_REL = "nofollow noopener noreferrer";
