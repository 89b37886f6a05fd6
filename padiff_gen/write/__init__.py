"""Write: put a generated file in place atomically, and record what its analysis read
(``provenance``) so that ``check`` can answer an unchanged project quickly.
"""
