"""Folded tables: a script's rows that differ only by layer or expert indices, said once.

padiff_gen.plan.fold finds such runs when it writes a script; this expands them back, in the
script, into the flat rows the rest of the runtime reads. Standard library only.
"""


def expand_rows(table, indices=None):
    """The flat rows of a table whose repeated rows are folded: an entry
    ``{"for": name, "range": (start, stop), "rows": rows}`` stands for its rows once for
    each index in range(start, stop), in order, with ``{name}`` in their strings
    replaced by the index (entries nest: layers, then experts). Inside a row, a tuple's
    ``{"for": name, "range": (start, stop), "each": items}`` stands for those items once
    for each index, and ``{"repeat": count, "each": items}`` for them count times."""
    indices = indices or {}
    flat = []
    for entry in table:
        if isinstance(entry, dict):
            for index in range(*entry["range"]):
                inner = dict(indices, **{entry["for"]: str(index)})
                flat.extend(expand_rows(entry["rows"], inner))
        else:
            flat.append(_with_indices(entry, indices))
    return tuple(flat)


def _with_indices(value, indices):
    if isinstance(value, str):
        for name, index in indices.items():
            value = value.replace("{" + name + "}", index)
        return value
    if not isinstance(value, tuple):
        return value
    items = []
    for item in value:
        if not isinstance(item, dict):
            items.append(_with_indices(item, indices))
        elif "repeat" in item:
            items.extend(_with_indices(item["each"], indices) * item["repeat"])
        else:
            for index in range(*item["range"]):
                inner = dict(indices, **{item["for"]: str(index)})
                items.extend(_with_indices(item["each"], inner))
    return tuple(items)
