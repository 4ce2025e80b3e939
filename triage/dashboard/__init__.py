"""The supervisor dashboard, case lifecycle (close/reopen), case summaries and hub health."""
