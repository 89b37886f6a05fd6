"""Initializers for layers that store the same weights differently in torch and paddle."""
