"""System checks. Area modules register their own checks by importing here."""
