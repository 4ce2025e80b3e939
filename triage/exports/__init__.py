"""Court-ready exports of a case (VICS JSON, CSV, report, signed manifest) and fixity
checks of the stored originals they describe."""
