"""What padiff-gen knows about the frameworks and their layers, as tables.

``frameworks``: the facts where torch and paddle differ; ``layer_kinds``: which classes a
layer kind covers and how its weight is laid out; ``settings``: the settings without
weights that change what a layer computes. Imports nothing of padiff-gen but ``errors``.
"""
