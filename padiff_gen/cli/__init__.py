"""The ``padiff-gen`` command: its parser, its commands, the ``[tool.padiff-gen]``
targets of a model repository, and ``check``.
"""
