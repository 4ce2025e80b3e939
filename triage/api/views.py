"""The REST API's views (/api/v1/). Every object is loaded through ``triage.access`` (or an
explicit agency filter), so another agency's object is a 404 and a role that is not
enough is a 403; every list is paginated; every error has the shape of
``triage.api.exceptions``."""

from __future__ import annotations

from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db import transaction
from django.db.models import Prefetch
from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.audit import audit_record
from hub.models import Role
from hub.policy import policy_for
from triage.access import batch_for, case_for, item_for, visible_cases
from triage.api import serializers as s
from triage.api.authentication import AgencySessionAuthentication, BearerTokenAuthentication
from triage.api.exceptions import ApiError, api_exception_handler
from triage.api.permissions import HasAgencyRole
from triage.api.throttling import LookupThrottle
from triage.exports import selectors as export_selectors
from triage.exports import services as export_services
from triage.matching import exporters
from triage.matching.importers import hashimport_create
from triage.matching.lists import usable_lists
from triage.matching.lookup import lookup_values
from triage.models import (
    EvidenceBatch,
    EvidenceItem,
    ExportJob,
    HashList,
    ItemStatus,
    KnownState,
    Match,
    ReviewState,
)
from triage.services import intake
from triage.views.batches import UploadSizeLimit

ERROR_EXAMPLE = OpenApiExample(
    "Error",
    value={
        "error": {
            "code": "not_found",
            "message": "Not found: it does not exist, or it is not visible to you.",
            "details": {},
        }
    },
    response_only=True,
    status_codes=["404"],
)


class Pagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 500


class ApiView(APIView):
    # Base of every API view: bearer token or session, the agency role check, the one
    # error shape, pagination helpers, no caching. (A comment, not a docstring: the schema
    # would show a docstring as the description of every endpoint.)

    authentication_classes = [BearerTokenAuthentication, AgencySessionAuthentication]
    permission_classes = [HasAgencyRole]
    parser_classes = [JSONParser]
    required_role = Role.INVESTIGATOR
    pagination_class = Pagination

    def get_exception_handler(self):
        return api_exception_handler

    def finalize_response(self, request, response, *args, **kwargs):
        # API answers carry evidence hashes, decisions and exports: never cached.
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store, private"
        return response

    @property
    def agency(self):
        return self.request.agency

    def paginate(self, queryset, serializer_class, **context):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        data = serializer_class(
            page, many=True, context={"request": self.request, "agency": self.agency, **context}
        ).data
        return paginator.get_paginated_response(data)

    def validated(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def choice_param(request, name: str, choices) -> str | None:
    """A query parameter that must be one of ``choices`` (a TextChoices), or None."""
    value = request.query_params.get(name)
    if not value:
        return None
    if value not in choices.values:
        raise ApiError(
            f"Unknown {name} {value[:40]!r}: choose one of {', '.join(choices.values)}.",
            code="invalid",
            details={name: [f"choose one of {', '.join(choices.values)}"]},
        )
    return value


def _items_queryset():
    return (
        EvidenceItem.objects.select_related("case", "batch", "blob")
        .prefetch_related(
            Prefetch("matches", queryset=Match.objects.select_related("hash_list", "entry")),
            "scores",
        )
        .order_by("-priority", "id")
    )


# --- cases -----------------------------------------------------------------------------


class CaseListView(ApiView):
    @extend_schema(
        summary="List the cases visible to you",
        responses=s.CaseSerializer(many=True),
        tags=["cases"],
    )
    def get(self, request):
        return self.paginate(visible_cases(request).order_by("-created_at", "id"), s.CaseSerializer)

    @extend_schema(
        summary="Open a case",
        request=s.CaseSerializer,
        responses={201: s.CaseSerializer},
        examples=[
            OpenApiExample(
                "New case",
                value={"reference": "OP-2026-17", "title": "Op Lantern"},
                request_only=True,
            )
        ],
        tags=["cases"],
    )
    def post(self, request):
        data = self.validated(s.CaseSerializer)
        with transaction.atomic():
            case = intake.case_create(
                agency=self.agency,
                user=request.user,
                reference=data["reference"],
                title=data.get("title", ""),
                urgency=data.get("urgency", 0),
            )
        return Response(s.CaseSerializer(case).data, status=status.HTTP_201_CREATED)


class CaseDetailView(ApiView):
    @extend_schema(summary="One case", responses=s.CaseSerializer, tags=["cases"])
    def get(self, request, case):
        return Response(s.CaseSerializer(case_for(request, case)).data)


# --- batches ---------------------------------------------------------------------------


class CaseBatchesView(ApiView):
    @extend_schema(
        summary="Batches of a case", responses=s.BatchSerializer(many=True), tags=["batches"]
    )
    def get(self, request, case):
        case = case_for(request, case)
        batches = EvidenceBatch.objects.filter(case=case).select_related("case")
        return self.paginate(batches.order_by("-created_at", "id"), s.BatchSerializer)

    @extend_schema(
        summary="Start a batch (an exhibit) in a case",
        description="Then upload files to it and submit it for processing.",
        request=s.BatchCreateSerializer,
        responses={201: s.BatchDetailSerializer},
        tags=["batches"],
    )
    def post(self, request, case):
        case = case_for(request, case)
        data = self.validated(s.BatchCreateSerializer)
        batch = intake.batch_create(
            case=case,
            user=request.user,
            exhibit_ref=data.get("exhibit_ref", ""),
            note=data.get("note", ""),
            source="api",
        )
        return Response(s.BatchDetailSerializer(batch).data, status=status.HTTP_201_CREATED)


class BatchListView(ApiView):
    @extend_schema(
        summary="Every batch of the cases visible to you",
        responses=s.BatchSerializer(many=True),
        parameters=[
            OpenApiParameter(
                "status",
                str,
                enum=EvidenceBatch.Status.values,
                description="Only batches in this status",
            )
        ],
        tags=["batches"],
    )
    def get(self, request):
        batches = EvidenceBatch.objects.filter(
            agency=self.agency, case__in=visible_cases(request)
        ).select_related("case")
        wanted = choice_param(request, "status", EvidenceBatch.Status)
        if wanted:
            batches = batches.filter(status=wanted)
        return self.paginate(batches.order_by("-created_at", "id"), s.BatchSerializer)


class BatchDetailView(ApiView):
    @extend_schema(
        summary="A batch with its status and processing progress (poll this)",
        responses=s.BatchDetailSerializer,
        examples=[ERROR_EXAMPLE],
        tags=["batches"],
    )
    def get(self, request, batch):
        return Response(s.BatchDetailSerializer(batch_for(request, batch)).data)


class BatchFilesView(ApiView):
    """Multipart upload, streamed to disk: the body never sits in memory, and the
    agency's upload limit stops reading past it."""

    parser_classes = [MultiPartParser]

    def _stream_to_disk(self, request, agency) -> UploadSizeLimit:
        django_request = request._request
        limiter = UploadSizeLimit(django_request, policy_for(agency).max_upload_bytes)
        django_request.upload_handlers = [limiter, TemporaryFileUploadHandler(django_request)]
        return limiter

    def initial(self, request, *args, **kwargs):
        # A session's CSRF check reads the body during authentication: the handlers must
        # already be in place (with the session's agency limit; a token's is set below).
        agency = getattr(request._request, "agency", None)
        if request.method == "POST" and agency is not None:
            self.limiter = self._stream_to_disk(request, agency)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        summary="Upload files to a batch (multipart/form-data)",
        description=(
            "Repeat `file` for several files. An optional `sha256` per file (same order) "
            "is checked against what arrived: a mismatch rejects that file with a 400 "
            "`file_rejected` error naming it; the other files are kept."
        ),
        request={"multipart/form-data": s.UploadSerializer},
        responses={
            201: s.UploadResultSerializer,
            409: OpenApiTypes.OBJECT,
            413: OpenApiTypes.OBJECT,
        },
        tags=["batches"],
    )
    def post(self, request, batch):
        batch = batch_for(request, batch)
        if batch.status != EvidenceBatch.Status.RECEIVING:
            raise ApiError(
                "This batch was already submitted: start a new batch for more files.",
                code="batch_submitted",
                status_code=409,
                details={"status": batch.status},
            )
        if not hasattr(request._request, "_files"):
            # Not read yet (bearer token): the token's agency sets the limit.
            self.limiter = self._stream_to_disk(request, self.agency)
        files = request.FILES.getlist("file")
        if self.limiter.exceeded:
            limit = policy_for(self.agency).max_upload_bytes
            raise ApiError(
                f"The upload is larger than your agency's limit of {limit} bytes: "
                "split it into several requests.",
                code="payload_too_large",
                status_code=413,
                details={"limit_bytes": limit},
            )
        if not files:
            raise ApiError(
                "Attach at least one file in the 'file' field (multipart/form-data).",
                code="invalid",
                details={"file": ["This field is required."]},
            )
        sums = request.data.getlist("sha256")
        paths = request.data.getlist("path")
        for name, values in (("sha256", sums), ("path", paths)):
            if values and len(values) != len(files):
                raise ApiError(
                    f"Send one '{name}' per file, in the same order as the files "
                    f"({len(files)} files, {len(values)} values).",
                    code="invalid",
                    details={name: [f"expected {len(files)} values"]},
                )
        accepted, rejected = [], []
        for n, uploaded in enumerate(files):
            try:
                item = intake.batch_add_file(
                    batch=batch,
                    src_path=uploaded.temporary_file_path(),
                    name=uploaded.name,
                    relative_path=paths[n] if paths else None,
                    client_sha256=(sums[n] or None) if sums else None,
                    move=True,
                )
            except intake.IntakeRejected as exc:
                rejected.append({"name": uploaded.name, "reason": str(exc)})
            else:
                accepted.append(
                    {"uuid": str(item.uuid), "path": item.path, "sha256": item.blob.sha256}
                )
        if rejected:
            first = rejected[0]
            raise ApiError(
                f"{len(rejected)} of {len(files)} files were rejected. {first['reason']}",
                code="file_rejected",
                details={"rejected": rejected, "accepted": accepted},
            )
        batch.refresh_from_db()
        return Response(
            {"accepted": accepted, "batch": s.BatchDetailSerializer(batch).data},
            status=status.HTTP_201_CREATED,
        )


class BatchSubmitView(ApiView):
    @extend_schema(
        summary="Submit a batch for processing",
        description="No more files can be added afterwards. Poll the batch for progress.",
        request=None,
        responses={202: s.BatchDetailSerializer, 409: OpenApiTypes.OBJECT},
        tags=["batches"],
    )
    def post(self, request, batch):
        batch = batch_for(request, batch)
        if not batch.items.exists():
            raise ApiError(
                "This batch has no files: upload at least one before submitting.",
                code="batch_empty",
                status_code=409,
            )
        intake.batch_submit(batch=batch, user=request.user)
        batch.refresh_from_db()
        return Response(s.BatchDetailSerializer(batch).data, status=status.HTTP_202_ACCEPTED)


# --- items -----------------------------------------------------------------------------

ITEM_FILTER_CHOICES = {
    "review_state": ReviewState,
    "known_state": KnownState,
    "status": ItemStatus,
}
ITEM_FILTERS = [
    OpenApiParameter(field, str, enum=choices.values, description=f"Only items with this {field}")
    for field, choices in ITEM_FILTER_CHOICES.items()
]


def _filter_items(request, items):
    for field, choices in ITEM_FILTER_CHOICES.items():
        value = choice_param(request, field, choices)
        if value:
            items = items.filter(**{field: value})
    return items


class BatchItemsView(ApiView):
    @extend_schema(
        summary="Items of a batch, highest priority first",
        parameters=ITEM_FILTERS,
        responses=s.ItemSerializer(many=True),
        tags=["items"],
    )
    def get(self, request, batch):
        batch = batch_for(request, batch)
        items = _filter_items(request, _items_queryset().filter(batch=batch))
        return self.paginate(items, s.ItemSerializer)


class CaseItemsView(ApiView):
    @extend_schema(
        summary="Items of a case, highest priority first",
        parameters=ITEM_FILTERS,
        responses=s.ItemSerializer(many=True),
        tags=["items"],
    )
    def get(self, request, case):
        case = case_for(request, case)
        items = _filter_items(request, _items_queryset().filter(case=case))
        return self.paginate(items, s.ItemSerializer)


class ItemDetailView(ApiView):
    @extend_schema(summary="One item", responses=s.ItemSerializer, tags=["items"])
    def get(self, request, item):
        item = item_for(request, item)
        item = _items_queryset().get(pk=item.pk)
        return Response(s.ItemSerializer(item, context={"agency": self.agency}).data)


class ItemDecisionView(ApiView):
    @extend_schema(
        summary="Grade an item (a review decision)",
        description="The category is a code of your agency's category scheme.",
        request=s.DecisionCreateSerializer,
        responses={
            201: s.DecisionSerializer,
            409: OpenApiTypes.OBJECT,
            501: OpenApiTypes.OBJECT,
        },
        tags=["items"],
    )
    def post(self, request, item):
        item = item_for(request, item)
        data = self.validated(s.DecisionCreateSerializer)
        from triage.review import service as review

        decide = getattr(review, "review_decide", None)
        if decide is None:
            raise ApiError(
                "Review decisions are not available through the API on this server yet.",
                code="not_implemented",
                status_code=501,
            )
        decision = decide(
            item=item,
            user=request.user,
            category=data["category"],
            note=data.get("note", ""),
            request=request._request,
        )
        decision.item.refresh_from_db(fields=["review_state"])
        return Response(s.DecisionSerializer(decision).data, status=status.HTTP_201_CREATED)


# --- matching --------------------------------------------------------------------------


class LookupView(ApiView):
    throttle_classes = [LookupThrottle]

    @extend_schema(
        summary="Are these hashes known?",
        description=(
            "Looks hashes up in every list your agency may use. Answers the list name, the "
            "category in your agency's scheme, the algorithm and, for PDQ, the distance. "
            "Every lookup is audited. Rate-limited."
        ),
        request=s.LookupRequestSerializer,
        responses=s.LookupResponseSerializer,
        examples=[
            OpenApiExample(
                "Lookup",
                value={"hashes": ["d41d8cd98f00b204e9800998ecf8427e"]},
                request_only=True,
            )
        ],
        tags=["matching"],
    )
    def post(self, request):
        data = self.validated(s.LookupRequestSerializer)
        rows = lookup_values(self.agency, data["hashes"], pdq_quality=data.get("pdq_quality"))
        with transaction.atomic():
            audit_record(
                "hash.lookup",
                agency=self.agency,
                actor=request.user,
                object_type="HashLookup",
                data={
                    "values": [r.value for r in rows][:100],
                    "known": sum(1 for r in rows if r.hits),
                    "via": "api",
                },
                request=request._request,
            )
        return Response({"results": s.LookupRowSerializer(rows, many=True).data})


class HashListListView(ApiView):
    required_role = Role.SUPERVISOR

    @extend_schema(
        summary="Hash lists your agency may use (its own, shared with it, hub-wide)",
        responses=s.HashListSerializer(many=True),
        tags=["matching"],
    )
    def get(self, request):
        lists = usable_lists(self.agency).order_by("name", "id")
        return self.paginate(lists, s.HashListSerializer)


def _owned_list(request, list_uuid) -> HashList:
    """Only the agency's own lists are imported into or exported; anything else is a 404."""
    from hub.access import get_scoped_or_404

    return get_scoped_or_404(request, HashList.objects.all(), uuid=list_uuid)


class HashListImportView(ApiView):
    required_role = Role.ADMIN
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Import a hash-list file (admins)",
        description="Queued; poll the returned import for its status.",
        request={"multipart/form-data": s.HashImportCreateSerializer},
        responses={202: s.HashImportSerializer},
        tags=["matching"],
    )
    def post(self, request, hashlist):
        hash_list = _owned_list(request, hashlist)
        data = self.validated(s.HashImportCreateSerializer)
        hash_import = hashimport_create(
            hash_list=hash_list,
            user=request.user,
            uploaded_file=data["file"],
            fmt=data["format"],
            hex64=data["hex64"],
            request=request._request,
        )
        hash_import.refresh_from_db()
        return Response(s.HashImportSerializer(hash_import).data, status=status.HTTP_202_ACCEPTED)


class HashImportDetailView(ApiView):
    required_role = Role.ADMIN

    @extend_schema(
        summary="One hash-list import", responses=s.HashImportSerializer, tags=["matching"]
    )
    def get(self, request, hashlist, hashimport):
        hash_list = _owned_list(request, hashlist)
        try:
            hash_import = hash_list.imports.get(uuid=hashimport)
        except (hash_list.imports.model.DoesNotExist, ValueError):
            from rest_framework.exceptions import NotFound

            raise NotFound() from None
        return Response(s.HashImportSerializer(hash_import).data)


class HashListExportView(ApiView):
    required_role = Role.ADMIN

    @extend_schema(
        summary="Export a hash list (admins)",
        parameters=[
            OpenApiParameter("file_format", str, enum=list(exporters.EXPORTERS), default="vics"),
            OpenApiParameter(
                "algorithm", str, enum=["md5", "sha1", "sha256", "pdq"], default="md5"
            ),
        ],
        responses={
            (200, content_type): (
                OpenApiTypes.OBJECT if content_type == "application/json" else OpenApiTypes.STR
            )
            for content_type, _, _ in exporters.EXPORTERS.values()
        },
        tags=["matching"],
    )
    def get(self, request, hashlist):
        hash_list = _owned_list(request, hashlist)
        # Not "format": DRF reserves that query parameter for content negotiation.
        fmt = request.query_params.get("file_format", "vics")
        algorithm = request.query_params.get("algorithm", "md5")
        if fmt not in exporters.EXPORTERS or algorithm not in ("md5", "sha1", "sha256", "pdq"):
            raise ApiError(
                f"Choose file_format from {', '.join(exporters.EXPORTERS)} and algorithm from "
                "md5, sha1, sha256, pdq.",
                code="invalid",
                details={"format": fmt, "algorithm": algorithm},
            )
        with transaction.atomic():
            audit_record(
                "hashlist.exported",
                agency=hash_list.agency,
                actor=request.user,
                obj=hash_list,
                data={
                    "format": fmt,
                    "algorithm": algorithm if fmt == "text" else None,
                    "via": "api",
                },
                request=request._request,
            )
        content_type, extension, produce = exporters.EXPORTERS[fmt]
        response = StreamingHttpResponse(
            produce(hash_list, algorithm=algorithm), content_type=content_type
        )
        name = exporters.safe_file_name(hash_list.name)
        response["Content-Disposition"] = f'attachment; filename="{name}.{extension}"'
        return response


# --- exports ---------------------------------------------------------------------------

EXAMPLE_DOWNLOAD = "/api/v1/exports/5f0c3a0e-8d1c-4a55-9a57-0d7f5d1f2a10/download/"
_EXPORT_RUNNING = {
    "uuid": "5f0c3a0e-8d1c-4a55-9a57-0d7f5d1f2a10",
    "case": "0b7e4a8e-3f1d-4c1e-9f59-2b8f4f0f8c21",
    "case_reference": "OP-2026-17",
    "batch": None,
    "kind": "case",
    "status": "running",
    "status_label": "Exporting",
    "progress": 45,
    "error": "",
    "created_by": "ivan",
    "created_at": "2026-03-02T10:15:00Z",
    "finished_at": None,
    "expired_at": None,
    "download_url": None,
    "files": [],
}
_EXPORT_FINISHED = {**_EXPORT_RUNNING, "progress": 100, "finished_at": "2026-03-02T10:15:40Z"}
EXPORT_EXAMPLE = OpenApiExample("Export running", value=_EXPORT_RUNNING, response_only=True)
EXPORT_DONE_EXAMPLE = OpenApiExample(
    "Export ready",
    value={
        **_EXPORT_FINISHED,
        "status": "done",
        "status_label": "Ready",
        "download_url": f"{EXAMPLE_DOWNLOAD}?file=bundle",
        "files": [
            {
                "file": "vics",
                "path": "vics.json",
                "sha256": "9f2c6d0e" * 8,
                "size": 48213,
                "download_url": f"{EXAMPLE_DOWNLOAD}?file=vics",
            }
        ],
    },
    response_only=True,
)
EXPORT_EXPIRED_EXAMPLE = OpenApiExample(
    "Export deleted",
    value={
        **_EXPORT_FINISHED,
        "status": "expired",
        "status_label": "Expired (deleted)",
        "expired_at": "2026-04-01T11:00:00Z",
    },
    response_only=True,
)
GONE_EXAMPLE = OpenApiExample(
    "Deleted",
    value={
        "error": {
            "code": "export_expired",
            "message": "This export was deleted on 2026-04-01 (kept 30 days), by the "
            "agency's export retention or by hand: its files cannot be downloaded any more. "
            "Start a new export of the case if you need one.",
            "details": {"status": "expired", "expired_at": "2026-04-01T11:00:00Z"},
        }
    },
    response_only=True,
    status_codes=["410"],
)
NOT_READY_EXAMPLE = OpenApiExample(
    "Not ready",
    value={
        "error": {
            "code": "export_not_ready",
            "message": "This export is not ready (status: running, 45%): poll it and "
            "download when its status is done.",
            "details": {"status": "running", "progress": 45},
        }
    },
    response_only=True,
    status_codes=["409"],
)


class CaseExportsView(ApiView):
    @extend_schema(
        summary="Exports of a case, newest first",
        responses=s.ExportSerializer(many=True),
        examples=[EXPORT_DONE_EXAMPLE],
        tags=["exports"],
    )
    def get(self, request, case):
        case = case_for(request, case)
        return self.paginate(export_selectors.case_exports(case), s.ExportSerializer)

    @extend_schema(
        summary="Start an export of a case, or of one batch of it",
        description=(
            "Runs in the background: poll the returned export until `status` is `done`, "
            "then download the signed bundle (a zip of `vics.json` (Project VIC VICS 2.0), "
            "`items.csv`, `report.html`, `report.pdf` and the signed `manifest.json`) or "
            "one of its files. Every stored original it describes is re-hashed first; a "
            "changed original refuses the export (409 `export_refused`)."
        ),
        request=s.ExportCreateSerializer,
        responses={202: s.ExportSerializer, 409: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample("Whole case", value={}, request_only=True),
            OpenApiExample(
                "One batch",
                value={"batch": "7d1f0c56-2f4e-4b8a-9c3e-5a6b7c8d9e0f"},
                request_only=True,
            ),
            EXPORT_EXAMPLE,
        ],
        tags=["exports"],
    )
    def post(self, request, case):
        case = case_for(request, case)
        data = self.validated(s.ExportCreateSerializer)
        batch = None
        if data.get("batch"):
            batch = batch_for(request, data["batch"])
            if batch.case_id != case.pk:
                raise ApiError(
                    "That batch belongs to another case: export it from its own case.",
                    code="invalid",
                    details={"batch": ["not a batch of this case"]},
                )
        job = export_services.export_create(
            case=case, user=request.user, batch=batch, request=request._request
        )
        job = export_selectors.case_exports(case).get(pk=job.pk)
        return Response(s.ExportSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def _gone(job) -> ApiError:
    return ApiError(
        export_services.gone_message(job),
        code="export_expired",
        status_code=410,
        details={"status": job.status, "expired_at": job.expired_at},
    )


class ExportDetailView(ApiView):
    @extend_schema(
        summary="One export with its status and progress (poll this)",
        responses=s.ExportSerializer,
        examples=[EXPORT_EXAMPLE, EXPORT_DONE_EXAMPLE, EXPORT_EXPIRED_EXAMPLE, ERROR_EXAMPLE],
        tags=["exports"],
    )
    def get(self, request, export):
        return Response(s.ExportSerializer(export_selectors.export_for(request, export)).data)

    @extend_schema(
        summary="Delete a finished export's files now",
        description=(
            "Deletes the export's folder and zip (audited `export.deleted`); the export "
            "itself stays, with `status` `expired` and `expired_at`, as the record of what "
            "was exported, and its downloads answer 410. For the export's creator, or a "
            "supervisor or admin of the agency (403 otherwise). Deleting again changes "
            "nothing; an export still being made answers 409 `export_not_deletable`. "
            "Finished exports are also deleted automatically after the agency's "
            "`export_retention_days`."
        ),
        request=None,
        responses={200: s.ExportSerializer, 409: OpenApiTypes.OBJECT},
        examples=[EXPORT_EXPIRED_EXAMPLE],
        tags=["exports"],
    )
    def delete(self, request, export):
        job = export_selectors.export_for(request, export)
        if not export_selectors.may_delete(request, job):
            raise ApiError(
                "Only the person who made this export, a supervisor or an admin may delete it.",
                code="permission_denied",
                status_code=403,
            )
        try:
            export_services.export_delete(job=job, user=request.user, request=request._request)
        except export_services.ExportNotDeletable as exc:
            raise ApiError(
                str(exc),
                code="export_not_deletable",
                status_code=409,
                details={"status": job.status},
            ) from None
        job = export_selectors.export_for(request, export)
        return Response(s.ExportSerializer(job).data)


DOWNLOAD_TYPES = sorted({content_type for _, content_type in export_services.EXPORT_FILES.values()})


class ExportDownloadView(ApiView):
    """Streams one file of a finished export; audited, never cached."""

    def perform_content_negotiation(self, request, force=False):
        # The body is a file whatever the client accepts; errors are JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="Download a finished export (the signed zip, or one file of it)",
        description=(
            "`file=bundle` (default) is the zip of every file with the signed manifest; "
            "`vics`, `csv`, `report`, `report_pdf` and `manifest` are single files of it. "
            "Each download is audited. Verify a bundle with "
            "`manage.py verify_export PATH [--public-key HEX]` (the agency's Ed25519 public "
            "key, shown on its exports page), or each file against the manifest's SHA-256. "
            "An export whose files were deleted (retention, or by hand) answers 410 "
            "`export_expired`."
        ),
        parameters=[
            OpenApiParameter("file", str, enum=list(export_services.EXPORT_FILES), default="bundle")
        ],
        responses={
            **{
                (200, ct): OpenApiTypes.OBJECT if ct == "application/json" else OpenApiTypes.BINARY
                for ct in DOWNLOAD_TYPES
            },
            (409, "application/json"): OpenApiTypes.OBJECT,
            (410, "application/json"): OpenApiTypes.OBJECT,
        },
        examples=[NOT_READY_EXAMPLE, GONE_EXAMPLE],
        tags=["exports"],
    )
    def get(self, request, export):
        job = export_selectors.export_for(request, export)
        key = request.query_params.get("file") or "bundle"
        if key not in export_services.EXPORT_FILES:
            raise ApiError(
                f"Choose file from {', '.join(export_services.EXPORT_FILES)}.",
                code="invalid",
                details={"file": [f"{key[:40]!r} is not one of the export's files"]},
            )
        if job.is_expired:
            raise _gone(job)
        if job.status != ExportJob.Status.DONE:
            if job.is_active:
                message = (
                    f"This export is not ready (status: {job.status}, {job.progress}%): "
                    "poll it and download when its status is done."
                )
            else:
                reason = (job.error or "no reason recorded").rstrip(". ")
                message = (
                    f"This export ended {job.status} and has no files ({reason}): "
                    "start a new export."
                )
            raise ApiError(
                message,
                code="export_not_ready",
                status_code=409,
                details={"status": job.status, "progress": job.progress},
            )
        try:
            path, name, content_type = export_services.export_file(job, key)
            handle = open(path, "rb")  # noqa: SIM115 (FileResponse closes it)
        except (export_services.ExportNotAvailable, OSError) as exc:
            job.refresh_from_db(fields=["status", "expired_at"])
            if job.is_expired:  # deleted since it was loaded above
                raise _gone(job) from None
            raise ApiError(
                str(exc)
                if isinstance(exc, export_services.ExportNotAvailable)
                else "The export file is missing from storage: tell your hub administrator.",
                code="export_file_missing",
                status_code=404,
                details={"file": key},
            ) from None
        try:
            export_services.export_download_record(
                job=job,
                request=request._request,
                file="" if key == "bundle" else path.name,
                via="api",
            )
        except BaseException:
            handle.close()
            raise
        return FileResponse(handle, as_attachment=True, filename=name, content_type=content_type)
