"""The versioned REST API (/api/v1/) for machine clients; see triage/urls_api.py."""
