"""System checks of the classifier area."""
