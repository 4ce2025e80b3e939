"""The pipeline stages, declared once and in order (``STAGES``).

A stage never calls another stage; the runner (``triage.pipeline.runner``) calls them. A
stage ends for an item in one of three ways: normally; with ``StageSkipped`` (expected, the
item continues with the next stage); ``StageFailed`` / ``StageRefused`` (expected, the item
ends FAILED / REFUSED with the reason for a person); or any other exception (the item ends
ERRORED with its traceback). Every stage is idempotent: it may run twice for an item after
a worker crash, and unique constraints protect what it writes.

A lost database connection (a restart, a failover, a network cut) is nobody's fault: it
never ends an item. The stage is tried once more on a new connection; if that fails too,
the error propagates, the hop is abandoned with its items still claimed, and the
reconciler re-queues them (``triage.pipeline.runner``)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import PurePosixPath

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.utils import InterfaceError, OperationalError

from triage import archives, storage
from triage.media import MediaDamaged, MediaRefused, analyse, sniff, thumbs
from triage.media.hashing import crypto_hashes
from triage.models import Derivative, EvidenceItem, ItemStatus, MediaKind, VideoFrame

log = logging.getLogger(__name__)


class StageSkipped(Exception):  # noqa: N818 (an ending, not an error)
    """Expected: the stage does not apply; the item carries on."""


class StageFailed(Exception):  # noqa: N818
    """Expected failure (a corrupt file): the item ends FAILED with this reason."""


class StageRefused(StageFailed):
    """Hostile or over a limit: the item ends REFUSED with this reason."""


def is_transient(exc: BaseException) -> bool:
    """A database error that says nothing about the item: the connection was lost or the
    server refused the transaction for now (shutdown, failover, serialisation, locks)."""
    return isinstance(exc, (OperationalError, InterfaceError))


def snapshot(items: list[EvidenceItem]) -> dict[int, dict]:
    """The items' field values as they are now (see ``restore``)."""
    return {
        item.id: {f.attname: getattr(item, f.attname) for f in item._meta.concrete_fields}
        for item in items
    }


def restore(items: list[EvidenceItem], saved: dict[int, dict]) -> None:
    """Put back the field values of ``snapshot``: after a rolled-back attempt, an instance
    must not keep what the attempt set on it. A retry that compares against the instance
    ("unchanged, nothing to write") would otherwise skip the write the rollback undid."""
    for item in items:
        for attname, value in saved.get(item.id, {}).items():
            setattr(item, attname, value)


def fresh_connection() -> bool:
    """After a transient error, drop a broken connection so that the next query opens a
    new one. Not possible inside an outer transaction (then the caller must give up)."""
    if connection.in_atomic_block:
        return False
    connection.close_if_unusable_or_obsolete()
    return True


class Stage:
    """Base stage: ``able_to_run(item)`` filters, ``run_chunk(items)`` does the work (by
    default ``run(item)`` for each, each in its own savepoint) and returns the endings of
    the items that did not simply succeed, as ``{item id: exception}``."""

    name = ""
    queue = "intake"

    def able_to_run(self, item: EvidenceItem) -> bool:
        return True

    def run(self, item: EvidenceItem) -> None:
        raise NotImplementedError

    def run_chunk(self, items: list[EvidenceItem]) -> dict[int, BaseException]:
        endings: dict[int, BaseException] = {}
        for item in items:
            for last_try in (False, True):
                saved = snapshot([item])
                try:
                    with transaction.atomic():
                        self.run(item)
                except Exception as exc:
                    if is_transient(exc):
                        restore([item], saved)
                        if last_try or not fresh_connection():
                            raise
                        log.warning(
                            "database connection lost in the %s stage (item %s): %s; "
                            "retrying on a new connection",
                            self.name,
                            item.id,
                            exc,
                        )
                        continue
                    endings[item.id] = exc
                break
        return endings

    def __repr__(self) -> str:
        return f"<stage {self.name}>"


# --- helpers -------------------------------------------------------------------------

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".3gp"}


def item_sniff(item: EvidenceItem) -> sniff.Sniffed:
    """The item's type from its stored bytes (cached on the instance, saved by the caller)."""
    cached = getattr(item, "_sniffed", None)
    if cached is not None:
        return cached
    if item.blob is None:
        raise StageFailed("the file was not stored, so it cannot be analysed")
    try:
        sniffed = sniff.sniff_file(storage.blob_path(item.blob))
    except FileNotFoundError as exc:
        raise StageFailed("the stored original is missing from the evidence store") from exc
    item._sniffed = sniffed
    item.media_type = sniffed.media_type
    item.media_kind = sniffed.kind
    return sniffed


def _ancestors(item: EvidenceItem) -> list[EvidenceItem]:
    chain, node = [], item
    while node.parent_id is not None:
        node = EvidenceItem.objects.select_related("blob").get(pk=node.parent_id)
        chain.append(node)
    return chain


# --- the stages ----------------------------------------------------------------------


class Extract(Stage):
    """Expands an archive into child items (streamed, never extracted by name)."""

    name = "extract"

    def able_to_run(self, item):
        return item.blob is not None and item_sniff(item).kind == MediaKind.ARCHIVE

    def run(self, item):
        max_depth = settings.HUB_MAX_ARCHIVE_DEPTH
        if item.depth >= max_depth:
            raise StageRefused(
                f"archive nested {item.depth + 1} levels deep, over the limit of {max_depth}: "
                "not expanded (42.zip-style nesting)"
            )
        ancestors = _ancestors(item)
        root = ancestors[-1] if ancestors else item
        enclosing = {item.blob.sha256, *(a.blob.sha256 for a in ancestors if a.blob)}
        # Budgets are shared by the whole tree under the top-level archive, so nesting
        # cannot multiply them.
        used = EvidenceItem.objects.filter(
            batch_id=item.batch_id, path__startswith=root.path + "/"
        ).aggregate(n=Count("id"), bytes=Sum("size"))
        ratio_budget = max(
            root.size * settings.HUB_MAX_COMPRESSION_RATIO, archives.RATIO_FLOOR_BYTES
        )
        limits = archives.Limits(
            max_bytes=min(settings.HUB_MAX_UNCOMPRESSED_BYTES, ratio_budget) - (used["bytes"] or 0),
            max_entries=settings.HUB_MAX_ARCHIVE_ENTRIES - used["n"],
            max_ratio=settings.HUB_MAX_COMPRESSION_RATIO,
        )
        if limits.max_bytes <= 0 or limits.max_entries <= 0:
            raise StageRefused(
                "the archives inside this upload already reached the size or entry limit: "
                "not expanded (possible archive bomb)"
            )
        new_files = []
        try:
            self._expand(item, limits, enclosing, new_files)
        except archives.ArchiveRefused as exc:
            self._discard(new_files)
            raise StageRefused(str(exc)) from exc
        except archives.ArchiveDamaged as exc:
            self._discard(new_files)
            raise StageFailed(str(exc)) from exc
        except BaseException:
            self._discard(new_files)
            raise

    @staticmethod
    def _discard(paths):
        # The Blob rows roll back with the savepoint; remove the files only we created.
        for path in paths:
            path.unlink(missing_ok=True)

    def _expand(self, item, limits, enclosing, new_files):
        members = archives.iter_members(
            storage.blob_path(item.blob), item.media_type, limits, item.original_name
        )
        for member, stream in members:
            staged = storage.stage_stream(item.agency, stream)
            # Recorded as soon as linked: if the Blob row then fails (a lost database
            # connection), the savepoint rolls it back and the file goes with it.
            blob, _ = storage.commit_blob(item.agency, staged, created_files=new_files)
            status, reason = ItemStatus.PENDING, ""
            if blob.sha256 in enclosing:
                status = ItemStatus.REFUSED
                reason = (
                    "this member is a copy of an archive that encloses it (a cycle): not expanded"
                )
            EvidenceItem.objects.get_or_create(
                batch_id=item.batch_id,
                path=f"{item.path}/{member.name}",
                defaults={
                    "agency_id": item.agency_id,
                    "case_id": item.case_id,
                    "parent": item,
                    "blob": blob,
                    "original_name": archives.shortened(PurePosixPath(member.name).name),
                    "size": blob.size,
                    "source_mtime": member.mtime,
                    "depth": item.depth + 1,
                    "status": status,
                    "failure_reason": reason,
                },
            )


class Hash(Stage):
    """Crypto hashes. Intake computes them while storing; this fills any gap (a blob made
    elsewhere) and makes sure the original is really in the store."""

    name = "hash"

    def run(self, item):
        blob = item.blob
        if blob is None:
            raise StageFailed("the file was not stored, so it cannot be hashed")
        path = storage.blob_path(blob)
        if not path.exists():
            raise StageFailed("the stored original is missing from the evidence store")
        if not (blob.md5 and blob.sha1 and blob.size is not None):
            hashes = crypto_hashes(path)
            blob.md5, blob.sha1, blob.size = hashes["md5"], hashes["sha1"], hashes["size"]
            blob.save(update_fields=["md5", "sha1", "size"])


def _test_delay() -> None:
    # Test hook only: the crash-recovery test slows this stage down so it can kill a
    # worker mid-batch. Unset in every real deployment.
    delay = os.environ.get("HUB_TEST_STAGE_DELAY")
    if delay:
        time.sleep(float(delay))


class Media(Stage):
    """Sniff by magic bytes, decode (bounded), PDQ with dihedrals, video keyframes and
    review thumbnails."""

    name = "media"

    def able_to_run(self, item):
        return item.blob is not None and item_sniff(item).kind != MediaKind.ARCHIVE

    def run(self, item):
        _test_delay()
        sniffed = item_sniff(item)
        suffix = PurePosixPath(item.original_name).suffix.lower()
        if sniffed.kind not in (MediaKind.IMAGE, MediaKind.VIDEO):
            if sniffed is sniff.EMPTY or item.blob.size == 0:
                raise StageFailed("the file is empty (0 bytes): nothing to analyse")
            if suffix in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
                raise StageFailed(
                    f"named {suffix} but the content is {sniffed.label}: not decoded "
                    "(the type is taken from the bytes, never the name)"
                )
            raise StageSkipped(f"not an image or video ({sniffed.label})")
        try:
            result = analyse(storage.blob_path(item.blob), sniffed)
        except MediaRefused as exc:
            raise StageRefused(str(exc)) from exc
        except MediaDamaged as exc:
            raise StageFailed(str(exc)) from exc
        item.width, item.height = result.width, result.height
        item.duration_seconds = result.duration
        item.pdq, item.pdq_quality = result.pdq, result.pdq_quality
        item.pdq_dihedral = result.pdq_dihedral
        item.save(
            update_fields=[
                "media_type",
                "media_kind",
                "width",
                "height",
                "duration_seconds",
                "pdq",
                "pdq_quality",
                "pdq_dihedral",
            ]
        )
        if result.frames:
            VideoFrame.objects.bulk_create(
                [
                    VideoFrame(
                        item=item,
                        index=f.index,
                        timestamp=f.timestamp,
                        pdq=f.pdq,
                        quality=f.quality,
                    )
                    for f in result.frames
                ],
                ignore_conflicts=True,
            )
        self._derivatives(item, result)

    @staticmethod
    def _derivatives(item, result):
        sha = item.blob.sha256
        made = {}
        if result.preview is not None:
            made.update(thumbs.thumbnails(result.preview, result.orientation))
        if len(result.keyframe_images) > 1:
            # The sheet and its blurred copy (what the reviewer sees before a reveal).
            made.update(thumbs.contact_sheets(result.keyframe_images))
        rows = [
            Derivative(
                item=item,
                kind=kind,
                parent_sha256=sha,
                storage_path=storage.write_derived(item.agency, sha, kind, data),
                width=width,
                height=height,
            )
            for kind, (data, width, height) in made.items()
        ]
        # One INSERT for all of them; a redelivered item finds its rows there already.
        Derivative.objects.bulk_create(rows, ignore_conflicts=True)


class ContractStage(Stage):
    """A stage that hands the whole chunk to another area's service. A service that is
    not there yet (NotImplementedError) skips the stage. If the chunk call fails, each
    item is retried alone so that one bad item does not take the chunk down with it."""

    def call(self, items):
        raise NotImplementedError

    def run_chunk(self, items):
        saved = snapshot(items)
        try:
            with transaction.atomic():
                self.call(items)
            return {}
        except NotImplementedError as exc:
            return {i.id: StageSkipped(f"{self.name} is not available: {exc}") for i in items}
        except Exception as exc:
            restore(items, saved)  # the chunk's transaction was rolled back
            if is_transient(exc):
                # The connection, not the chunk: once more, item by item, on a new one.
                if not fresh_connection():
                    raise
                log.warning(
                    "database connection lost in the %s stage: %s; retrying item by item "
                    "on a new connection",
                    self.name,
                    exc,
                )
            elif len(items) == 1:
                return {items[0].id: exc}
            else:
                log.warning(
                    "%s failed for a chunk; retrying item by item", self.name, exc_info=True
                )
        endings = {}
        for item in items:
            try:
                with transaction.atomic():
                    self.call([item])
            except NotImplementedError as exc:
                endings[item.id] = StageSkipped(f"{self.name} is not available: {exc}")
            except Exception as exc:
                if is_transient(exc):
                    raise
                endings[item.id] = exc
        return endings


class Match(ContractStage):
    name = "match"

    def call(self, items):
        from triage.matching import service

        service.match_items(items)


class Classify(ContractStage):
    """Runs on the inference queue (its own task, ``triage.classify.pipeline_chunk``)."""

    name = "classify"
    queue = "inference"

    def able_to_run(self, item):
        return item.media_kind in (MediaKind.IMAGE, MediaKind.VIDEO) and bool(item.pdq)

    def call(self, items):
        from triage.classifier import service

        service.classify_items(items)


class Prioritise(ContractStage):
    name = "prioritise"

    def call(self, items):
        from triage.review import service

        service.prioritise_items(items)


STAGES: tuple[Stage, ...] = (Extract(), Hash(), Media(), Match(), Classify(), Prioritise())
STAGE_NAMES = tuple(s.name for s in STAGES)
