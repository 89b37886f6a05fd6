"""Example model pairs: the same architecture written for torch and for paddle."""
