"""Codegen: lay a plan out for people, as a standalone script (``render``, with the
runtime source pulled out by ``extract``) or as the table ``inspect`` prints (``report``).
"""
