"""Serializers of the API. Objects are named by UUID, never by database id. Matches name
the list, the category (in the caller's agency scheme), the algorithm and the distance
only: never the entry, its source reference or the list's owner."""

from rest_framework import serializers

from hub.models import Role
from triage.matching.importers import FORMATS
from triage.models import (
    Case,
    EvidenceBatch,
    EvidenceItem,
    ExportJob,
    HashList,
    MediaKind,
    Urgency,
)
from triage.models.matching import HashImport, receiving_category

# --- cases and batches -----------------------------------------------------------------


class CaseSerializer(serializers.ModelSerializer):
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.ROUTINE)
    urgency_label = serializers.CharField(source="get_urgency_display", read_only=True)

    class Meta:
        model = Case
        fields = [
            "uuid",
            "reference",
            "title",
            "urgency",
            "urgency_label",
            "is_closed",
            "created_at",
            "closed_at",
        ]
        read_only_fields = ["uuid", "is_closed", "created_at", "closed_at"]
        extra_kwargs = {"title": {"required": False, "allow_blank": True}}
        # The (agency, reference) uniqueness is checked by case_create, per agency.
        validators: list = []


class BatchCreateSerializer(serializers.Serializer):
    exhibit_ref = serializers.CharField(max_length=100, required=False, allow_blank=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class ProgressSerializer(serializers.Serializer):
    found = serializers.IntegerField()
    hashed = serializers.IntegerField()
    matched = serializers.IntegerField()
    classified = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    pending = serializers.IntegerField()
    percent = serializers.IntegerField()
    is_complete = serializers.BooleanField()
    stages = serializers.DictField(child=serializers.IntegerField())


class BatchSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case.uuid", read_only=True)

    class Meta:
        model = EvidenceBatch
        fields = [
            "uuid",
            "case",
            "exhibit_ref",
            "note",
            "source",
            "status",
            "refusal_reason",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class BatchDetailSerializer(BatchSerializer):
    progress = serializers.SerializerMethodField()

    class Meta(BatchSerializer.Meta):
        fields = [*BatchSerializer.Meta.fields, "progress"]
        read_only_fields = fields

    def get_progress(self, batch) -> ProgressSerializer:
        from triage.services.intake import batch_progress

        progress = batch_progress(batch)
        return ProgressSerializer(progress).data


class UploadSerializer(serializers.Serializer):
    file = serializers.ListField(
        child=serializers.FileField(), help_text="One or more files (repeat the field)."
    )
    sha256 = serializers.ListField(
        child=serializers.RegexField(r"^[0-9a-fA-F]{64}$"),
        required=False,
        help_text="Optional SHA-256 per file, in the same order; a mismatch rejects the file.",
    )
    path = serializers.ListField(
        child=serializers.CharField(max_length=2000),
        required=False,
        help_text="Optional relative path per file (provenance), in the same order.",
    )


class UploadResultSerializer(serializers.Serializer):
    accepted = serializers.ListField(child=serializers.DictField())
    batch = BatchDetailSerializer()


# --- items -----------------------------------------------------------------------------


class MatchSerializer(serializers.Serializer):
    list = serializers.CharField()
    category = serializers.CharField()
    algorithm = serializers.CharField()
    distance = serializers.IntegerField()


class ScoreSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.CharField()
    score = serializers.FloatField()


class HashesSerializer(serializers.Serializer):
    md5 = serializers.CharField(allow_blank=True)
    sha1 = serializers.CharField(allow_blank=True)
    sha256 = serializers.CharField(allow_blank=True)
    pdq = serializers.CharField(allow_blank=True)


class ItemSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case.uuid", read_only=True)
    # Blank until the media stage has looked at the file (a read-only model field would
    # lose allow_blank and the schema would not admit "").
    media_kind = serializers.ChoiceField(
        choices=MediaKind.choices, allow_blank=True, read_only=True
    )
    batch = serializers.UUIDField(source="batch.uuid", read_only=True)
    hashes = serializers.SerializerMethodField()
    matches = serializers.SerializerMethodField()
    scores = serializers.SerializerMethodField()

    class Meta:
        model = EvidenceItem
        fields = [
            "uuid",
            "case",
            "batch",
            "path",
            "original_name",
            "size",
            "status",
            "failure_reason",
            "media_type",
            "media_kind",
            "width",
            "height",
            "duration_seconds",
            "hashes",
            "known_state",
            "best_distance",
            "matches",
            "classifier_score",
            "scores",
            "priority",
            "priority_reasons",
            "review_state",
            "category",
            "created_at",
            "processed_at",
        ]
        read_only_fields = fields

    def get_hashes(self, item) -> HashesSerializer:
        blob = item.blob
        return {
            "md5": blob.md5 if blob else "",
            "sha1": blob.sha1 if blob else "",
            "sha256": blob.sha256 if blob else "",
            "pdq": item.pdq,
        }

    def get_matches(self, item) -> MatchSerializer(many=True):
        agency = self.context["agency"]
        rows = []
        for match in item.matches.all():
            code, label = receiving_category(match.hash_list, match.entry.category, agency)
            rows.append(
                {
                    "list": match.hash_list.name,
                    "category": f"{code} · {label}" if code else label,
                    "algorithm": match.algorithm,
                    "distance": match.distance,
                }
            )
        return sorted(rows, key=lambda r: (r["distance"], r["list"]))

    def get_scores(self, item) -> ScoreSerializer(many=True):
        return [
            {"model": s.model_name, "version": s.model_version, "score": s.score}
            for s in item.scores.all()
        ]


class DecisionCreateSerializer(serializers.Serializer):
    category = serializers.CharField(max_length=10)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class DecisionSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    kind = serializers.CharField()
    category = serializers.CharField()
    item = serializers.UUIDField(source="item.uuid")
    review_state = serializers.CharField(source="item.review_state")
    created_at = serializers.DateTimeField()


# --- matching --------------------------------------------------------------------------


class LookupRequestSerializer(serializers.Serializer):
    hashes = serializers.ListField(
        child=serializers.CharField(max_length=200, allow_blank=True),
        min_length=1,
        max_length=1000,
        help_text="MD5, SHA-1, SHA-256 or PDQ hex; prefix 'pdq:' to force PDQ.",
    )
    pdq_quality = serializers.IntegerField(required=False, min_value=0, max_value=100)


class LookupHitSerializer(serializers.Serializer):
    list = serializers.CharField(source="list_name")
    category = serializers.CharField()
    algorithm = serializers.CharField()
    distance = serializers.IntegerField()


class LookupRowSerializer(serializers.Serializer):
    value = serializers.CharField()
    kind = serializers.CharField()
    known = serializers.SerializerMethodField()
    error = serializers.CharField()
    hits = LookupHitSerializer(many=True)

    def get_known(self, row) -> bool:
        return bool(row.hits)


class LookupResponseSerializer(serializers.Serializer):
    results = LookupRowSerializer(many=True)


class HashListSerializer(serializers.ModelSerializer):
    owned = serializers.SerializerMethodField()
    hub_wide = serializers.BooleanField(source="is_hub_wide", read_only=True)

    class Meta:
        model = HashList
        fields = [
            "uuid",
            "name",
            "scheme",
            "is_active",
            "is_agency_own",
            "version",
            "owned",
            "hub_wide",
        ]
        read_only_fields = fields

    def get_owned(self, hash_list) -> bool:
        return hash_list.agency_id == self.context["agency"].id


class HashImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=list(FORMATS), default="auto")
    hex64 = serializers.ChoiceField(choices=["sha256", "pdq"], default="sha256")


class HashImportSerializer(serializers.ModelSerializer):
    hash_list = serializers.UUIDField(source="hash_list.uuid", read_only=True)

    class Meta:
        model = HashImport
        fields = [
            "uuid",
            "hash_list",
            "file_name",
            "format",
            "status",
            "total",
            "processed",
            "summary",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


ROLE_CHOICES = Role.choices


# --- exports ---------------------------------------------------------------------------


class ExportCreateSerializer(serializers.Serializer):
    batch = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="Export only this batch (exhibit) of the case; omit for the whole case.",
    )


class ExportFileSerializer(serializers.Serializer):
    file = serializers.CharField(help_text="The value of `file` that downloads it.")
    path = serializers.CharField(help_text="Its name inside the export.")
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    download_url = serializers.CharField()


class ExportSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case.uuid", read_only=True)
    case_reference = serializers.CharField(source="case.reference", read_only=True)
    batch = serializers.SerializerMethodField()
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    created_by = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    files = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "uuid",
            "case",
            "case_reference",
            "batch",
            "kind",
            "status",
            "status_label",
            "progress",
            "error",
            "created_by",
            "created_at",
            "finished_at",
            "expired_at",
            "download_url",
            "files",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "status": {
                "help_text": "`expired`: its files were deleted (the agency's export "
                "retention, or by hand) at `expired_at`; downloads answer 410."
            },
            "expired_at": {"help_text": "When its files were deleted; null until then."},
        }

    def get_batch(self, job) -> serializers.UUIDField(allow_null=True):
        return str(job.batch.uuid) if job.batch_id else None

    def get_created_by(self, job) -> str:
        return job.created_by.username if job.created_by else "system"

    def _url(self, job, key: str) -> str:
        from django.urls import reverse

        return reverse("triage:api_export_download", kwargs={"export": job.uuid}) + f"?file={key}"

    def get_download_url(self, job) -> serializers.CharField(allow_null=True):
        """The signed bundle (zip), once the export is done."""
        return self._url(job, "bundle") if job.status == ExportJob.Status.DONE else None

    def get_files(self, job) -> ExportFileSerializer(many=True):
        """Every file of a finished export with its SHA-256 from the signed manifest (empty
        until done). The manifest itself is downloaded with ``file=manifest``."""
        from triage.exports.services import EXPORT_FILES, export_manifest

        keys = {name: key for key, (name, _) in EXPORT_FILES.items() if name}
        rows = []
        for entry in export_manifest(job).get("files") or []:
            key = keys.get(entry.get("path"))
            if key is None:
                continue
            rows.append(
                {
                    "file": key,
                    "path": entry["path"],
                    "sha256": entry["sha256"],
                    "size": entry["size"],
                    "download_url": self._url(job, key),
                }
            )
        return rows
