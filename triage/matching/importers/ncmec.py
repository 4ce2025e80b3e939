"""NCMEC hash-sharing entries XML (``/v2/entries``), streamed with expat.

    <queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">
      <images count="…">
        <image><member id="42">…</member><id>image1</id><classification>A1</classification>
          <fingerprints><md5>…</md5><sha1>…</sha1><pdq>…</pdq></fingerprints></image>
        <deletedImage><id>image4</id></deletedImage>
      </images>
      <videos>… <video>, <deletedVideo> …</videos>
    </queryResult>

``id`` becomes the entry's source reference, so a later ``deletedImage`` with that id
tombstones it. The sharing member is deliberately not stored. DTDs are refused: a hash list
has no use for entities, and refusing them closes the entity-expansion attacks."""

from __future__ import annotations

from collections.abc import Iterator
from xml.parsers import expat

from triage.matching.importers.base import BadRow, ImportFileError, Record

ENTRY_TAGS = {"image", "video"}
DELETED_TAGS = {"deletedImage", "deletedVideo"}
FINGERPRINTS = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "pdq": "pdq"}


def _local(name: str) -> str:
    # expat with namespace_separator gives "uri local"; keep the local name.
    return name.rsplit(" ", 1)[-1]


def parse_bytes(data: bytes) -> Iterator[Record | BadRow]:
    out: list = []
    stack: list[str] = []
    current: dict | None = None
    text_parts: list[str] = []
    parser = expat.ParserCreate(namespace_separator=" ")

    def refuse_dtd(*_args):
        raise ImportFileError("NCMEC XML with a DOCTYPE is refused (entities are not allowed).")

    def start(name, attrs):
        nonlocal current
        tag = _local(name)
        if not stack and tag != "queryResult":
            raise ImportFileError(
                f"Not an NCMEC entries file: the root element is <{tag}>, not <queryResult>."
            )
        stack.append(tag)
        text_parts.clear()
        if tag in ENTRY_TAGS or tag in DELETED_TAGS:
            current = {
                "_line": parser.CurrentLineNumber,
                "_delete": tag in DELETED_TAGS,
                "_tag": tag,
            }

    def end(name):
        nonlocal current
        tag = _local(name)
        value = "".join(text_parts).strip()
        text_parts.clear()
        stack.pop()
        if current is None:
            return
        parent = stack[-1] if stack else ""
        if tag == current["_tag"]:
            out.append(_to_record(current))
            current = None
        elif tag == "id" and parent == current["_tag"]:
            current["id"] = value
        elif tag == "classification" and parent == current["_tag"]:
            current["classification"] = value
        elif parent == "fingerprints" and tag in FINGERPRINTS:
            current[FINGERPRINTS[tag]] = value

    def chars(data):
        text_parts.append(data)

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise ImportFileError(
            f"Not a well-formed NCMEC XML file: {expat.ErrorString(exc.code)} "
            f"at line {exc.lineno}, column {exc.offset}."
        ) from None
    yield from out


def _to_record(data: dict) -> Record | BadRow:
    line = data["_line"]
    if data["_delete"]:
        if not data.get("id"):
            return BadRow(line, f"<{data['_tag']}> without an <id>")
        return Record(line=line, source_ref=data["id"][:200], delete=True)
    return Record(
        line=line,
        md5=data.get("md5", ""),
        sha1=data.get("sha1", ""),
        sha256=data.get("sha256", ""),
        pdq=data.get("pdq", ""),
        category=data.get("classification", "")[:20],
        source_ref=data.get("id", "")[:200],
    )
