"""The REST API's views (/api/v1/). Every object is loaded through ``triage.access`` (or an
explicit agency filter), so another agency's object is a 404 and a role that is not
enough is a 403; every list is paginated; every error has the shape of
``triage.api.exceptions``."""

from __future__ import annotations

from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db import transaction
from django.db.models import Prefetch
from django.http import StreamingHttpResponse
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
from triage.matching import exporters
from triage.matching.importers import hashimport_create
from triage.matching.lists import usable_lists
from triage.matching.lookup import lookup_values
from triage.models import EvidenceBatch, EvidenceItem, HashList, Match
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
    """Base of every API view: bearer token or session, the agency role check, the one
    error shape, pagination helpers."""

    authentication_classes = [BearerTokenAuthentication, AgencySessionAuthentication]
    permission_classes = [HasAgencyRole]
    parser_classes = [JSONParser]
    required_role = Role.INVESTIGATOR
    pagination_class = Pagination

    def get_exception_handler(self):
        return api_exception_handler

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
        parameters=[OpenApiParameter("status", str, description="Only batches in this status")],
        tags=["batches"],
    )
    def get(self, request):
        batches = EvidenceBatch.objects.filter(
            agency=self.agency, case__in=visible_cases(request)
        ).select_related("case")
        wanted = request.query_params.get("status")
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
        responses={201: s.UploadResultSerializer},
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
        responses={202: s.BatchDetailSerializer},
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

ITEM_FILTERS = [
    OpenApiParameter("review_state", str, description="Only items in this review state"),
    OpenApiParameter("known_state", str, description="unknown, near or exact"),
]


def _filter_items(request, items):
    for field in ("review_state", "known_state", "status"):
        value = request.query_params.get(field)
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
        responses={201: s.DecisionSerializer, 501: OpenApiTypes.OBJECT},
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
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
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
