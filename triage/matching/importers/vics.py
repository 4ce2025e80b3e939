"""Project VIC VICS JSON (2.0 with ``@odata.context``, 1.x with ``odata.metadata``).

The envelope is ``{"value": [ {"Media": [ … ]}, … ]}`` (cases holding media) or a flat
``value`` of Media objects. Each Media is keyed by ``MD5`` with ``SHA1``, ``Category``,
``IsPrecategorized``, ``VictimIdentified``, ``Series`` and ``AlternativeHashes``
(``[{"HashName": "PDQ", "HashValue": …}]``, also SHA256).

The parser walks the document element by element with ``JSONDecoder.raw_decode`` so that
every Media has the line it starts on (for error reports) and a broken document fails with
the line of the break. The file is read as text once; each Media is decoded on its own."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

from triage.matching.importers.base import BadRow, ImportFileError, Record

_WS = re.compile(r"[ \t\n\r]*")
_decoder = json.JSONDecoder()


class _Lines:
    """Offset -> line number, incrementally (offsets only move forward)."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.line = 1

    def at(self, pos: int) -> int:
        if pos < self.pos:
            return self.text.count("\n", 0, pos) + 1
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


def _fail(text: str, pos: int, what: str):
    line = text.count("\n", 0, min(pos, len(text))) + 1
    raise ImportFileError(f"Not a VICS JSON file: {what} at line {line}.")


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()


def _decode(text: str, pos: int):
    try:
        return _decoder.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            f"Not a VICS JSON file: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None


def _walk_object(text: str, pos: int, on_key: Callable[[str, int], int | None]) -> int:
    pos = _skip(text, pos)
    if text[pos : pos + 1] != "{":
        _fail(text, pos, "expected an object")
    pos = _skip(text, pos + 1)
    if text[pos : pos + 1] == "}":
        return pos + 1
    while True:
        key, pos = _decode(text, pos)
        if not isinstance(key, str):
            _fail(text, pos, "expected a key")
        pos = _skip(text, pos)
        if text[pos : pos + 1] != ":":
            _fail(text, pos, "expected ':'")
        pos = _skip(text, pos + 1)
        end = on_key(key, pos)
        if end is None:
            _, end = _decode(text, pos)
        pos = _skip(text, end)
        char = text[pos : pos + 1]
        if char == ",":
            pos = _skip(text, pos + 1)
        elif char == "}":
            return pos + 1
        else:
            _fail(text, pos, "expected ',' or '}'")


def _walk_array(text: str, pos: int, on_element: Callable[[int], int]) -> int:
    pos = _skip(text, pos)
    if text[pos : pos + 1] != "[":
        _fail(text, pos, "expected an array")
    pos = _skip(text, pos + 1)
    if text[pos : pos + 1] == "]":
        return pos + 1
    while True:
        pos = _skip(text, on_element(pos))
        char = text[pos : pos + 1]
        if char == ",":
            pos = _skip(text, pos + 1)
        elif char == "]":
            return pos + 1
        else:
            _fail(text, pos, "expected ',' or ']'")


def _as_bool(value) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def media_to_record(media, line: int) -> Record | BadRow:
    if not isinstance(media, dict):
        return BadRow(line, "a Media entry is not an object")
    fields = {str(k).lower(): v for k, v in media.items()}
    record = Record(line=line)
    try:
        record.md5 = str(fields.get("md5") or "")
        record.sha1 = str(fields.get("sha1") or "")
        record.sha256 = str(fields.get("sha256") or "")
        category = fields.get("category")
        if category is not None and category != "":
            if isinstance(category, float) and category.is_integer():
                category = int(category)
            record.category = str(category).strip()
        record.series = str(fields.get("series") or "")[:200]
        record.victim_identified = _as_bool(fields.get("victimidentified"))
        precategorized = _as_bool(fields.get("isprecategorized"))
        record.is_precategorized = True if precategorized is None else precategorized
        ref = fields.get("mediaid") or fields.get("id") or ""
        record.source_ref = str(ref)[:200]
        for alt in fields.get("alternativehashes") or []:
            if not isinstance(alt, dict):
                return BadRow(line, "an AlternativeHashes entry is not an object")
            alt = {str(k).lower(): v for k, v in alt.items()}
            name = str(alt.get("hashname") or "").strip().lower().replace("-", "")
            value = str(alt.get("hashvalue") or "")
            if name == "pdq":
                record.pdq = value
                quality = alt.get("quality")
                if quality is not None:
                    record.pdq_quality = int(quality)
            elif name == "sha256" and not record.sha256:
                record.sha256 = value
            elif name == "sha1" and not record.sha1:
                record.sha1 = value
    except (TypeError, ValueError) as exc:
        return BadRow(line, str(exc))
    return record


def parse(text: str) -> Iterator[Record | BadRow]:
    """Yield a Record or BadRow per Media; raise ImportFileError on a broken document."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _Lines(text)
    out: list = []
    seen_value = False

    def on_media(pos: int) -> int:
        media, end = _decode(text, pos)
        out.append(media_to_record(media, lines.at(pos)))
        return end

    def on_value_element(pos: int) -> int:
        holder: dict = {}
        has_media = False

        def on_case_key(key: str, kpos: int) -> int | None:
            nonlocal has_media
            if key == "Media" and text[kpos : kpos + 1] == "[":
                has_media = True
                return _walk_array(text, kpos, on_media)
            value, end = _decode(text, kpos)
            holder[key] = value
            return end

        if text[pos : pos + 1] != "{":
            value, end = _decode(text, pos)
            out.append(BadRow(lines.at(pos), "an element of 'value' is not an object"))
            return end
        end = _walk_object(text, pos, on_case_key)
        if not has_media:
            out.append(media_to_record(holder, lines.at(pos)))  # a flat list of Media
        return end

    def on_top_key(key: str, pos: int) -> int | None:
        nonlocal seen_value
        if key in ("value", "Value"):
            seen_value = True
            return _walk_array(text, pos, on_value_element)
        if key == "Media":  # a bare {"Media": [...]} document
            seen_value = True
            return _walk_array(text, pos, on_media)
        return None

    end = _walk_object(text, 0, on_top_key)
    if _skip(text, end) != len(text):
        _fail(text, _skip(text, end), "unexpected data after the document")
    if not seen_value:
        raise ImportFileError("Not a VICS JSON file: no 'value' array of cases or media.")
    yield from out
