"""HTTP-level tests of the form and page fixes of the UI audit."""
