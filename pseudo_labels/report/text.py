"""The report's running text as spans: the report's own words, data-derived text, code, bold and links.

A piece of report text (:data:`Inline`) is a plain ``str`` (words the report
itself writes, numbers it formats), a span, or a tuple of them. Data read
from files (folder names, image stems, class names, paths, anything a JSON
holds) goes in :class:`Data` or :class:`Code`, never into a plain ``str``, so
the writers can keep it text: the Markdown writer backslash-escapes its
metacharacters (:func:`escape_markdown`) and puts code in a fence no
backtick inside can close (:func:`markdown_code`); the HTML writer escapes
everything. Links exist only as :class:`Link` spans and figure/picture
fields the report sets; their targets are URL-encoded file paths
(:func:`file_url`) or http(s) addresses (:func:`checked_url`), nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

ALLOWED_SCHEMES = ("http", "https")
"""The only URL schemes a report link may have; every other link is a relative, URL-encoded file path."""


@dataclass(frozen=True)
class Data:
    """Text read from data (a folder name, stem, class name, path): shown as is, never as markup."""

    text: str


@dataclass(frozen=True)
class Code:
    """Text shown as code (a command, a path, a hash); its characters are never markup either."""

    text: str


@dataclass(frozen=True)
class Bold:
    """Bold text."""

    content: Inline


@dataclass(frozen=True)
class Link:
    """A link the report makes: ``content`` linked to ``url`` (from :func:`file_url` or :func:`checked_url`)."""

    content: Inline
    url: str

    def __post_init__(self) -> None:
        checked_url(self.url)


Span = str | Data | Code | Bold | Link
Inline = Span | tuple
"""Report text: one span or a tuple of spans and nested tuples (a plain ``str`` is the report's own words)."""


def checked_url(url: str) -> str:
    """``url`` when it is relative or http(s); anything with another scheme (javascript:, data:, file:) is refused."""
    scheme = urlsplit(url).scheme
    if scheme and scheme.lower() not in ALLOWED_SCHEMES:
        raise ValueError(f"refusing a link with scheme {scheme!r} ({url!r}): report links are relative or http(s)")
    if not scheme and url.startswith("//"):
        raise ValueError(f"refusing a network-path link {url!r}: report links are relative or http(s)")
    if any(c in url for c in " \t\r\n\"'<>`\\"):
        raise ValueError(f"refusing an unencoded link {url!r}: build it with file_url")
    return url


def file_url(path: str) -> str:
    """A relative file path as a URL: every character but letters, digits, ``-._~`` and ``/`` percent-encoded.

    ``#`` and ``%`` in a name no longer cut or garble the address, and a colon
    becomes ``%3A``, so no file name can turn into a scheme; a leading ``//``
    gets ``./`` so it stays a path.
    """
    url = quote(path, safe="/")
    return f"./{url}" if url.startswith("//") else url


def spans(text: Inline) -> Iterator[Span]:
    """The spans of ``text`` in order (a single span, or a tuple of spans and nested tuples)."""
    if isinstance(text, tuple):
        for part in text:
            yield from spans(part)
    else:
        yield text


def plain(text: Inline) -> str:
    """``text`` without any formatting (for alt and sort attributes)."""
    out = []
    for span in spans(text):
        if isinstance(span, str):
            out.append(span)
        elif isinstance(span, (Data, Code)):
            out.append(span.text)
        else:
            out.append(plain(span.content))
    return "".join(out)


_MARKDOWN_SPECIAL = re.compile(r"[\\`*\[\]<>|&~!#$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
"""What :func:`escape_markdown` escapes: every inline metacharacter, and ``_`` where it could open or close
emphasis (not inside a word such as ``frankfurt_000000_000019``, where CommonMark never reads it)."""


def _one_line(text: str) -> str:
    return re.sub(r"[\r\n]+", " ", text)


def escape_markdown(text: str) -> str:
    """``text`` as Markdown that shows exactly ``text``: metacharacters backslash-escaped, line breaks as spaces."""
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), _one_line(text))


def markdown_code(text: str, in_table: bool = False) -> str:
    """A Markdown code span showing ``text``: a backtick fence longer than any run inside it (CommonMark)."""
    text = _one_line(text)
    if in_table:
        text = text.replace("|", "\\|")  # GFM splits cells before reading code spans
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def to_markdown(text: Inline, in_table: bool = False) -> str:
    """``text`` as Markdown: the report's words as written, data escaped, code fenced, links encoded."""
    out = []
    for span in spans(text):
        if isinstance(span, str):
            out.append(span.replace("|", "\\|") if in_table else span)
        elif isinstance(span, Data):
            out.append(escape_markdown(span.text))
        elif isinstance(span, Code):
            out.append(markdown_code(span.text, in_table))
        elif isinstance(span, Bold):
            out.append(f"**{to_markdown(span.content, in_table)}**")
        else:
            out.append(f"[{to_markdown(span.content, in_table)}]({span.url})")
    return "".join(out)


def tokens(text: Inline) -> list[dict]:
    """``text`` as plain dicts for the HTML template: ``{"kind": "text"|"code"|"bold"|"link", ...}``."""
    out: list[dict] = []
    for span in spans(text):
        if isinstance(span, str):
            out.append({"kind": "text", "text": span})
        elif isinstance(span, Data):
            out.append({"kind": "text", "text": _one_line(span.text)})
        elif isinstance(span, Code):
            out.append({"kind": "code", "text": _one_line(span.text)})
        elif isinstance(span, Bold):
            out.append({"kind": "bold", "content": tokens(span.content)})
        else:
            out.append({"kind": "link", "url": checked_url(span.url), "content": tokens(span.content)})
    return out


_MARKUP = re.compile(r"(`+)(.+?)\1|\*\*(.+?)\*\*")


def from_markup(text: str) -> tuple[Span, ...]:
    """Spans of a sentence another module words with `code` and **bold** around data (provenance, intervals).

    Only those two are read, never links or images: code becomes :class:`Code`,
    the rest :class:`Data` (escaped in Markdown), so data inside cannot become markup.
    """
    out: list[Span] = []
    at = 0
    for match in _MARKUP.finditer(text):
        if match.start() > at:
            out.append(Data(text[at:match.start()]))
        out.append(Code(match.group(2)) if match.group(1) else Bold(Data(match.group(3))))
        at = match.end()
    if at < len(text):
        out.append(Data(text[at:]))
    return tuple(out)
