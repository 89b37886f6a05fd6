"""The runtime of a script's command line: converting a checkpoint one tensor at a
time (reading .pt, safetensors and .pdparams, writing them out).

Imports only the standard library, numpy, torch, paddle, safetensors and
:mod:`padiff_gen.runtime.core`.
"""
