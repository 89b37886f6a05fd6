"""Load: model specs (``torch:pkg.module.Net``) into model objects, inputs from the
command line, third-party initializer packages.

The first stage of the pipeline: load -> analysis (with the evidence that runs models) ->
plan -> codegen -> write.
"""
