"""Load the demo: one hub operator, "Demo Police" (admin, supervisor, two investigators)
and "Other Force" (one investigator), plus a demo case and batch of generated images.
Idempotent: running it again changes nothing that exists and prints the logins again."""

from __future__ import annotations

import base64

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from hub.audit import audit_record
from hub.models import Agency, Membership, Role, User

DEMO_PASSWORD = "demo-password-2026"

PEOPLE = [
    # username, full name, agency slug, role, operator
    ("operator", "Hub Operator", None, None, True),
    ("alice", "Alice Admin", "demo-police", Role.ADMIN, False),
    ("sam", "Sam Supervisor", "demo-police", Role.SUPERVISOR, False),
    ("ivan", "Ivan Investigator", "demo-police", Role.INVESTIGATOR, False),
    ("iris", "Iris Investigator", "demo-police", Role.INVESTIGATOR, False),
    ("oscar", "Oscar Other", "other-force", Role.INVESTIGATOR, False),
]
AGENCIES = [("demo-police", "Demo Police"), ("other-force", "Other Force")]


class Command(BaseCommand):
    help = "Load the demo agencies, users and a demo batch (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--no-batch", action="store_true", help="Skip the demo batch.")

    def handle(self, *args, **options):
        with transaction.atomic():
            agencies = {}
            for slug, name in AGENCIES:
                agency, created = Agency.objects.get_or_create(slug=slug, defaults={"name": name})
                agencies[slug] = agency
                if created:
                    audit_record("agency.created", agency=None, obj=agency, data={"demo": True})
            rows = []
            for username, full_name, slug, role, operator in PEOPLE:
                first, _, last = full_name.partition(" ")
                user, created = User.objects.get_or_create(
                    username=username,
                    defaults={
                        "first_name": first,
                        "last_name": last,
                        "email": f"{username}@demo.invalid",
                        "is_hub_operator": operator,
                    },
                )
                if created:
                    user.set_password(DEMO_PASSWORD)
                    user.save()
                if slug:
                    Membership.objects.get_or_create(
                        user=user, agency=agencies[slug], defaults={"role": role}
                    )
                device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
                if device is None:
                    device = TOTPDevice.objects.create(user=user, name="demo", confirmed=True)
                secret = base64.b32encode(device.bin_key).decode()
                rows.append((username, slug or "(hub operator)", role or "-", secret))
        if not options["no_batch"]:
            self._demo_batch(agencies["demo-police"])
        self.stdout.write(self.style.SUCCESS("\nDemo loaded. Log in at http://127.0.0.1:8000"))
        self.stdout.write(f"Password for every demo user: {DEMO_PASSWORD}")
        if settings.HUB_REQUIRE_2FA:
            self.stdout.write("Two-factor is ON: add the TOTP key below to an authenticator app.")
        else:
            self.stdout.write(
                self.style.WARNING("Two-factor is OFF for the demo (HUB_REQUIRE_2FA=false).")
            )
        self.stdout.write(f"\n{'user':10} {'agency':16} {'role':13} TOTP key")
        for username, slug, role, secret in rows:
            self.stdout.write(f"{username:10} {slug:16} {role:13} {secret}")

    def _demo_batch(self, agency):
        try:
            from triage.demo import load_demo_batch
        except ImportError:
            return
        message = load_demo_batch(agency)
        if message:
            self.stdout.write(message)
