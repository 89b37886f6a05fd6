"""Folded tables: a script's rows that differ only by layer or expert indices, said once.

padiff_gen.fold finds such runs when it writes a script; this expands them back, in the
script, into the flat rows the rest of the runtime reads. Standard library only.
"""


def expand_rows(table, indices=None):
    """The flat rows of a table whose repeated rows are folded: an entry
    ``{"for": name, "range": (start, stop), "rows": rows}`` stands for its rows once for
    each index in range(start, stop), in order, with ``{name}`` in their strings
    replaced by the index (entries nest: layers, then experts)."""
    indices = indices or {}
    flat = []
    for entry in table:
        if isinstance(entry, dict):
            for index in range(*entry["range"]):
                inner = dict(indices, **{entry["for"]: str(index)})
                flat.extend(expand_rows(entry["rows"], inner))
        else:
            flat.append(_with_indices(entry, indices) if indices else entry)
    return tuple(flat)


def _with_indices(value, indices):
    if isinstance(value, str):
        for name, index in indices.items():
            value = value.replace("{" + name + "}", index)
        return value
    if isinstance(value, tuple):
        return tuple(_with_indices(item, indices) for item in value)
    return value
