"""``report.html`` (and ``report.pdf``, with reportlab): the case, its exhibits, counts by
category, matches per list, the reviewers and their decisions, and the SHA-256 of every
file. Text and tables only: a report never contains an image, not even a thumbnail."""

from __future__ import annotations

from collections import Counter
from xml.sax.saxutils import escape

from django.db.models import Count
from django.template.loader import render_to_string
from django.utils import timezone

from hub.policy import CATEGORY_SCHEMES
from triage.exports.manifest import agency_signing_key
from triage.exports.selectors import export_items, item_rows
from triage.models import EvidenceBatch, Match, ReviewDecision


def report_context(job) -> dict:
    items = export_items(job)
    policy = job.agency.policy
    labels = dict(policy.categories or CATEGORY_SCHEMES.get(policy.category_scheme, []))
    batch_ids = items.values("batch_id")
    batches = (
        EvidenceBatch.objects.filter(pk__in=batch_ids)
        .select_related("uploaded_by")
        .annotate(item_count=Count("items"))
        .order_by("created_at", "id")
    )
    categories = Counter(items.values_list("category", flat=True))
    category_rows = [
        {"code": code, "label": labels.get(code, code) if code else "Not categorised", "n": n}
        for code, n in sorted(categories.items(), key=lambda kv: (kv[0] == "", kv[0]))
    ]
    match_rows = list(
        Match.objects.filter(item__in=items)
        .order_by()
        .values("hash_list__name", "algorithm")
        .annotate(matches=Count("id"), items=Count("item_id", distinct=True))
        .order_by("hash_list__name", "algorithm")
    )
    decision_rows = list(
        ReviewDecision.objects.filter(item__in=items, undone_at=None)
        .order_by()
        .values("reviewer__username", "kind", "category")
        .annotate(n=Count("id"))
        .order_by("reviewer__username", "kind", "category")
    )
    kinds = dict(ReviewDecision.Kind.choices)
    for row in decision_rows:
        row["reviewer"] = row["reviewer__username"] or "system"
        row["kind_label"] = kinds.get(row["kind"], row["kind"])
        row["category_label"] = labels.get(row["category"], row["category"])
    return {
        "job": job,
        "case": job.case,
        "agency": job.agency,
        "generated_at": timezone.now(),
        "scheme": policy.category_scheme,
        "batches": list(batches),
        "categories": category_rows,
        "matches": match_rows,
        "decisions": decision_rows,
        "rows": item_rows(job),
        # The key that signs this export's manifest, for the recipient to compare with
        # the one the agency gave them out of band.
        "signing_key": agency_signing_key(str(job.agency.uuid)),
    }


def write_report_html(context: dict, path) -> None:
    # ``rows`` is a generator: the template walks it once, streaming the items.
    html = render_to_string("triage/exports/report.html", context)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(html)


def pdf_available() -> bool:
    try:
        import reportlab  # noqa: F401
    except ImportError:
        return False
    return True


def write_report_pdf(context: dict, path) -> None:
    """The same content as the HTML report, laid out by reportlab (text and tables)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7, leading=8.5)
    mono = styles["Code"].clone("mono", fontSize=6.5, leading=8)

    def p(text, style=small):
        return Paragraph(escape(str(text if text is not None else "")), style)

    def table(header, rows, widths=None):
        data = [[p(h) for h in header], *rows] if rows else [[p(h) for h in header]]
        t = LongTable(data, colWidths=widths, repeatRows=1)
        t.setStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
        return t

    case, job = context["case"], context["job"]
    story = [
        Paragraph(escape(f"Case {case.reference}: {case.title}"), styles["Title"]),
        p(f"Agency: {context['agency'].name}"),
        p(f"Export {job.uuid}, created by {job.created_by or 'system'}"),
        p(f"Generated at {context['generated_at'].isoformat()}"),
        p(
            f"Manifest signed with {context['signing_key'].algorithm} public key (hex) "
            f"{context['signing_key'].public_key}, SHA-256 fingerprint "
            f"{context['signing_key'].fingerprint}"
        ),
        p(f"Scope: {job.batch.exhibit_ref or job.batch.uuid if job.batch else 'whole case'}"),
        Spacer(1, 4 * mm),
        Paragraph("Exhibits", styles["Heading2"]),
        table(
            ["Exhibit", "Uploaded", "By", "Status", "Items"],
            [
                [
                    p(b.exhibit_ref or b.uuid),
                    p(b.created_at.isoformat()),
                    p(b.uploaded_by or "–"),
                    p(b.status),
                    p(b.item_count),
                ]
                for b in context["batches"]
            ],
        ),  # fmt: skip
        Paragraph(f"Counts by category ({escape(context['scheme'])})", styles["Heading2"]),
        table(
            ["Code", "Category", "Items"],
            [[p(c["code"]), p(c["label"]), p(c["n"])] for c in context["categories"]],
        ),
        Paragraph("Matches per list", styles["Heading2"]),
        table(
            ["List", "Algorithm", "Matches", "Items"],
            [
                [p(m["hash_list__name"]), p(m["algorithm"]), p(m["matches"]), p(m["items"])]
                for m in context["matches"]
            ],
        ),
        Paragraph("Reviewers and their decisions", styles["Heading2"]),
        table(
            ["Reviewer", "Decision", "Category", "Items"],
            [
                [p(d["reviewer"]), p(d["kind_label"]), p(d["category_label"]), p(d["n"])]
                for d in context["decisions"]
            ],
        ),
        Paragraph("Files and their SHA-256", styles["Heading2"]),
        table(
            ["#", "Exhibit / path", "SHA-256", "Category", "Decided by"],
            [
                [
                    p(n),
                    p(r.relative_path),
                    p(r.item.blob.sha256 if r.item.blob else "–", mono),
                    p(r.item.category),
                    p(r.decided_by),
                ]
                for n, r in enumerate(context["rows"], start=1)
            ],
            widths=[10 * mm, 95 * mm, 95 * mm, 18 * mm, 35 * mm],
        ),  # fmt: skip
    ]
    doc = SimpleDocTemplate(
        str(path),
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"Triage Hub export {case.reference}",
        invariant=1,
    )
    doc.build(story)
