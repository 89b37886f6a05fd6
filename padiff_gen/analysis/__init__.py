"""Analysis: walk both models, pair their units and tensors, decide each layout.

Pairing rules live here (``match``, ``regroup``, ``transforms``, ``hf_checkpoints``,
``compare_settings``); ``analyze`` runs them. What needs running the models to decide is
in :mod:`padiff_gen.analysis.evidence`.
"""
