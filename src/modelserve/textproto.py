"""A small reader for protobuf text format, enough for TF Serving's config files.

Parses ``name: value``, ``name { ... }`` and ``name: { ... }`` fields, ``#`` comments, quoted strings
(with C escapes), numbers, identifiers (enums, true/false), and optional ``,``/``;`` separators. The result
is a :class:`Message`: field name -> list of values (scalars or nested Messages), with the line of each
field kept for error messages. Errors raise :class:`TextProtoError` naming the line.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""(?P<space>[ \t\r]+)|(?P<newline>\n)|(?P<comment>\#[^\n]*)
      |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      |(?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)[fF]?)
      |(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
      |(?P<punct>[{}:<>\[\],;])""",
    re.VERBOSE,
)


class TextProtoError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass
class Message:
    fields: dict[str, list[object]] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)

    def add(self, name: str, value: object, line: int) -> None:
        self.fields.setdefault(name, []).append(value)
        self.lines.setdefault(name, []).append(line)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    line: int


def _tokens(text: str) -> list[_Token]:
    tokens, line, pos = [], 1, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise TextProtoError(line, f"unexpected character {text[pos]!r}")
        kind = match.lastgroup or ""
        if kind == "newline":
            line += 1
        elif kind not in ("space", "comment"):
            tokens.append(_Token(kind, match.group(), line))
        pos = match.end()
    return tokens


def parse(text: str) -> Message:
    tokens = _tokens(text)
    message, _pos = _parse_fields(tokens, 0, closing=None)
    return message


def _parse_fields(tokens: list[_Token], pos: int, closing: str | None) -> tuple[Message, int]:
    message = Message()
    while pos < len(tokens):
        token = tokens[pos]
        if closing is not None and token.text == closing:
            return message, pos + 1
        if token.kind != "ident":
            raise TextProtoError(token.line, f"expected a field name, got {token.text!r}")
        pos += 1
        nxt = tokens[pos] if pos < len(tokens) else None
        if nxt is not None and nxt.text == ":":
            pos += 1
            nxt = tokens[pos] if pos < len(tokens) else None
        if nxt is None:
            raise TextProtoError(token.line, f"field {token.text!r} has no value")
        if nxt.text in ("{", "<"):
            value, pos = _parse_fields(tokens, pos + 1, "}" if nxt.text == "{" else ">")
        else:
            value = _scalar(nxt)
            pos += 1
        message.add(token.text, value, token.line)
        if pos < len(tokens) and tokens[pos].text in (",", ";"):
            pos += 1
    if closing is not None:
        line = tokens[-1].line if tokens else 1
        raise TextProtoError(line, f"missing {closing!r} at end of input")
    return message, pos


def _scalar(token: _Token) -> object:
    if token.kind == "string":
        # C escapes (\n, \x41, \303\251 octal UTF-8 bytes as protobuf writes them) decode to bytes, then UTF-8.
        try:
            return codecs.escape_decode(token.text[1:-1].encode("utf-8"))[0].decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise TextProtoError(token.line, f"bad string {token.text}") from None
    if token.kind == "number":
        text = token.text.rstrip("fF")
        return float(text) if any(c in text for c in ".eE") else int(text)
    if token.kind == "ident":
        return {"true": True, "false": False}.get(token.text, token.text)
    raise TextProtoError(token.line, f"expected a value, got {token.text!r}")
