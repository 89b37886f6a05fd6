"""Folding repeated table rows (padiff_gen.plan.fold) and writing them out again in the
script (padiff_gen.runtime.core.tables.expand_rows): the folded table stands for exactly the
flat one, row for row and in order, on tables hypothesis builds from layers and experts.
"""

from __future__ import annotations

import ast

from hypothesis import given, settings
from hypothesis import strategies as st

from padiff_gen.cli import check
from padiff_gen.plan import fold
from padiff_gen.plan.fold import Fold, Row
from padiff_gen.codegen.render import literal

SETTINGS = dict(max_examples=40, deadline=None)


def expert_rows(layer: int, experts: int, name: str) -> list[Row]:
    return [
        Row(
            (
                f"model.layers.{layer}.mlp.{name}",
                f"model.layers.{layer}.mlp.experts.{e}.{name}.weight",
                f"select(axis=0, index={e}) | transpose",
                (experts, 6, 4),
                (4, 6),
            ),
            f"`{name}` holds {name}",
        )
        for e in range(experts)
    ]


def layer_rows(layer: int, experts: int, shapes: int) -> list[Row]:
    rows = [
        Row((f"model.layers.{layer}.norm.weight",) * 2 + ("copy", (4,), (4,))),
        Row(
            (
                (f"model.layers.{layer}.q.weight", f"model.layers.{layer}.k.weight"),
                f"model.layers.{layer}.qk.weight",
                "transpose | concatenate(axis=1, groups=2)",
                ((shapes, 4), (shapes, 4)),
                (4, 2 * shapes),
            ),
            f"found by running `model.layers.{layer}`",
        ),
    ]
    return (
        rows + expert_rows(layer, experts, "up") + expert_rows(layer, experts, "down")
    )


def as_text(rows: list, name: str = "TENSOR_TABLE") -> str:
    body = "\n".join("    " + line for line in fold.lines(rows, literal, indent=""))
    return f"{name} = (\n{body}\n)\n"


def values(rows: list[Row]) -> list[tuple]:
    return [(row.value, row.comment) for row in rows]


@settings(**SETTINGS)
@given(
    layers=st.integers(1, 7),
    experts=st.integers(1, 9),
    odd=st.integers(-1, 6),
    prefix=st.integers(0, 2),
)
def test_a_folded_table_stands_for_exactly_the_flat_one(layers, experts, odd, prefix):
    rows = [
        Row((f"embed.{i}.weight",) * 2 + ("copy", (3,), (3,))) for i in range(prefix)
    ]
    for layer in range(layers):
        # One layer unlike the others (another shape): its rows stay its own.
        rows += layer_rows(layer, experts, 8 if layer == odd else 2)
    rows.append(Row(("head.weight", "head.weight", "copy", (3,), (3,)), "tied"))
    items = fold.fold_items(rows)
    assert values(fold.flat(items)) == values(rows)
    assert values(fold.table_in(as_text(items), "TENSOR_TABLE")) == values(rows)
    regular = [layer for layer in range(layers) if layer != odd]
    if len(regular) == layers and layers > 1:  # every layer alike: one entry for all
        first = min(prefix, 1)  # two embedding rows or more fold too
        assert len(items) == first + 2, items
        assert isinstance(items[first], Fold) and items[first].name == "layer"
        assert (items[first].start, items[first].stop) == (0, layers)


def test_layers_and_experts_fold_into_nested_entries_named_after_the_path():
    rows = [row for layer in range(3) for row in layer_rows(layer, 4, 2)]
    [layers] = fold.fold_items(rows)
    assert (layers.name, layers.start, layers.stop) == ("layer", 0, 3)
    norm, qk, up, down = layers.body
    assert norm.value[0] == "model.layers.{layer}.norm.weight"
    assert qk.comment == "found by running `model.layers.{layer}`"
    assert (up.name, up.start, up.stop) == ("expert", 0, 4)
    assert up.body[0].value[2] == "select(axis=0, index={expert}) | transpose"
    assert up.body[0].value[1] == "model.layers.{layer}.mlp.experts.{expert}.up.weight"


def test_numbers_that_are_not_indices_must_be_equal_to_fold():
    """Shapes, sizes and axes are no indices: rows that differ there stay apart."""
    rows = [
        Row((f"blocks.{i}.weight", f"blocks.{i}.weight", "copy", (i + 1,), (i + 1,)))
        for i in range(4)
    ]
    assert fold.fold_items(rows) == rows
    grown = [
        Row((f"blocks.{i}.weight", f"blocks.{2 * i}.weight", "copy", (3,), (3,)))
        for i in range(4)
    ]
    assert fold.fold_items(grown) == grown  # an index that grows by 2 is not one index


def test_small_tables_and_tables_with_braces_stay_flat():
    small = [row for layer in range(2) for row in layer_rows(layer, 2, 2)]
    assert len(small) < fold.FOLD_MIN_ROWS
    assert fold.fold_tables({"t": small}) == {"t": small}
    big = [row for layer in range(20) for row in layer_rows(layer, 4, 2)]
    assert len(big) >= fold.FOLD_MIN_ROWS
    assert len(fold.fold_tables({"t": big})["t"]) == 1
    braced = big + [Row(("a{b}.weight", "a{b}.weight", "copy", (1,), (1,)))]
    assert fold.fold_tables({"t": braced}) == {"t": braced}


def test_an_inner_name_is_not_taken_again():
    rows = [
        Row(
            (f"layers.{i}.layers.{j}.w", f"layers.{i}.layers.{j}.w", "copy", (1,), (1,))
        )
        for i in range(3)
        for j in range(3)
    ]
    [outer] = fold.fold_items(rows)
    [inner] = outer.body
    assert {outer.name, inner.name} == {"layer", "layer2"}
    assert values(fold.flat([outer])) == values(rows)


def test_check_compares_folded_and_flat_tables_as_the_rows_they_stand_for():
    rows = [row for layer in range(3) for row in layer_rows(layer, 3, 2)]
    rows[4] = Row(rows[4].value, rows[4].comment + "; differs: eps 1e-05 / 1e-06")
    flat_text = as_text(rows)
    folded_text = as_text(fold.fold_items(rows))
    assert folded_text.count("\n") < flat_text.count("\n")
    flat_tables = check.table_rows(ast.parse(flat_text))
    assert flat_tables == check.table_rows(ast.parse(folded_text))
    assert len(flat_tables["TENSOR_TABLE"]) == len(rows)
    marks = check.setting_marks(flat_text)
    assert marks == check.setting_marks(folded_text)
    assert list(marks) == [rows[4].value[1]]
    # negative control: a row changed inside a fold is a change of the models
    changed = folded_text.replace("index={expert}", "index=0", 1)
    assert check.table_rows(ast.parse(changed)) != flat_tables


def checkpoint_row(layer: int, experts: int) -> Row:
    """A CHECKPOINT_TABLE row: the per-expert keys of a stacked tensor, gate then up."""
    keys = tuple(
        f"model.layers.{layer}.mlp.experts.{e}.{part}_proj.weight"
        for part in ("gate", "up")
        for e in range(experts)
    )
    return Row(
        (
            keys,
            f"model.layers.{layer}.mlp.experts.gate_up_proj",
            f"stack(axis=0, every={experts}) | concatenate(axis=1)",
            ((6, 4),) * len(keys),
            (experts, 12, 4),
        )
    )


@settings(**SETTINGS)
@given(layers=st.integers(1, 4), experts=st.integers(1, 12))
def test_long_runs_inside_a_row_are_said_once_too(layers, experts):
    tables = {
        "checkpoint_rows": [checkpoint_row(layer, experts) for layer in range(layers)],
        "tensor_rows": [row for layer in range(20) for row in layer_rows(layer, 4, 2)],
    }
    folded = fold.fold_tables(tables)
    for name, rows in tables.items():
        items = folded[name]
        assert values(fold.flat(items)) == values(rows)
        assert values(fold.table_in(as_text(items, name), name)) == values(rows)
    first = fold.flat(folded["checkpoint_rows"])[0]
    text = as_text(folded["checkpoint_rows"], "CHECKPOINT_TABLE")
    if experts >= fold.MIN_VALUE_RUN:
        assert '{"for": "expert", "range": (0, %d), "each": (' % experts in text
        assert '{"repeat": %d, "each": ((6, 4),)}' % (2 * experts) in text
        assert text.count("model.layers") < 10
    assert len(first.value[0]) == 2 * experts


def test_shapes_are_no_runs():
    """A shape is a tuple of ints: (64, 64, 64, 64, 64, 64, 64, 64) stays as it is."""
    value = ("a.weight", (64,) * 8)
    assert fold.fold_values(value) == value
