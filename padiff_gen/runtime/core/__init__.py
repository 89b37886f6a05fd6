"""The runtime every generated script carries: tensor lookup, the checks, the copy
kernels, the row table and, when used, the special-initializer driver and folded tables.

Imports only the standard library, numpy, torch and paddle (never padiff_gen).
"""
