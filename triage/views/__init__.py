"""Views of the evidence app, one module per area."""
