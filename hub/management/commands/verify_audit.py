"""Verify the audit hash chains: every chain, or one agency's with --agency SLUG.

Exits non-zero and names the first broken sequence number when a row was changed,
inserted or deleted."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from hub.audit import HUB_CHAIN, chain_key, verify_chain
from hub.models import Agency, AuditChain, AuditEvent


class Command(BaseCommand):
    help = "Verify the hash-chained audit log (all chains, or one agency's)."

    def add_arguments(self, parser):
        parser.add_argument("--agency", metavar="SLUG", help="Verify only this agency's chain.")

    def handle(self, *args, **options):
        names: dict[str, str] = {}
        if options["agency"]:
            agency = Agency.objects.filter(slug=options["agency"]).first()
            if agency is None:
                raise CommandError(f"No agency with slug {options['agency']!r}.")
            names[chain_key(agency)] = f"agency {agency.slug}"
        else:
            names[HUB_CHAIN] = "hub"
            for agency in Agency.objects.order_by("slug"):
                names[chain_key(agency)] = f"agency {agency.slug}"
            # Chains of agencies that no longer exist are still verified.
            keys = set(AuditChain.objects.values_list("key", flat=True))
            keys |= set(AuditEvent.objects.values_list("chain", flat=True).distinct())
            for key in sorted(keys - names.keys()):
                names[key] = f"chain {key}"
        broken = []
        for key, label in names.items():
            status = verify_chain(key)
            if status.ok:
                self.stdout.write(f"OK      {label}: verified up to {status.verified_up_to}")
            else:
                broken.append(label)
                self.stdout.write(
                    f"BROKEN  {label}: first broken sequence {status.first_broken_seq} "
                    f"({status.reason}); verified up to {status.verified_up_to}"
                )
        if broken:
            raise CommandError(f"Audit chain broken: {', '.join(broken)}")
        self.stdout.write(self.style.SUCCESS(f"All {len(names)} chain(s) verified."))
