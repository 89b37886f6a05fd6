"""Property-based tests: random pairs of corresponding models, and one mutation of them.

Models are built from JSON descriptions (examples/random_models.py), so a generated script
can rebuild them from the spec it records. Generated scripts are checked by one standalone
worker process (examples/script_worker.py, padiff_gen unimportable there) that pays for
importing torch and paddle once.

    make fuzz    # PADIFF_GEN_FUZZ=1: thousands of examples instead of the CI budget

Where a mutation should be reported, an independent oracle says where: it lists each
model's units (layers with weights, or whole layers copied by a special initializer) from
the descriptions, with their tensor shapes in torch's layout, and finds the first place
where the two lists differ. It knows the frameworks' layouts, not padiff_gen's code.
"""

from __future__ import annotations

import copy
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from conftest import assert_outputs_match, subprocess_env
from examples.random_models import (
    CONTAINERS,
    LEAVES,
    in_width,
    iter_containers,
    iter_leaves,
    out_width,
)
from examples.script_worker import ScriptWorker
from padiff_gen.api import emit_text, make_plan, pair_models
from padiff_gen.errors import MappingError
from padiff_gen.analysis.evidence.layout_probe import CHECKED
from padiff_gen.codegen.render import render_script

FUZZ = os.environ.get("PADIFF_GEN_FUZZ", "") not in ("", "0")
# CI: 210 examples, measured at 170 s wall / 85 s CPU on a busy 2-core machine. An
# equality example emits a real script (libcst and black: ~0.5-1 s); a mutation example
# pairs the models and renders the script without black, so it costs about a third.
PAIR_EXAMPLES = 2000 if FUZZ else 60
MUTATION_EXAMPLES = 4000 if FUZZ else 150
SETTINGS = dict(
    # CI sees the same examples on every run (a red CI is then a regression, not a new
    # find); `make fuzz` explores new ones.
    derandomize=not FUZZ,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

BATCH, TIME = 2, 5
WIDTHS = (4, 6, 8, 12)
NAMES = ("stem", "enc", "mid", "dec", "head", "proj", "norm", "attn", "rnn", "emb")
DIRECTIONS = (
    ("torch", "paddle"),
    ("paddle", "torch"),
    ("torch", "torch"),
    ("paddle", "paddle"),
)
MAX_LEAVES, MAX_DEPTH = 7, 3
# Layers the built-in initializers copy when the frameworks differ.
SPECIAL_KINDS = ("batchnorm", "lstm", "gru", "attention")


# ---------------------------------------------------------------- strategies


@st.composite
def leaves(draw, width: int, kind: Optional[str] = None) -> dict:
    """A leaf whose input width is ``width``."""
    kind = kind or draw(st.sampled_from(LEAVES))
    sizes = st.sampled_from(WIDTHS)
    if kind == "linear":
        # Always with a bias: a bias-less Linear has the very shapes of an Embedding,
        # which pairing by shapes cannot tell apart (the oracle would have to copy the
        # analyzer's transpose rule to predict those cases).
        return {"kind": kind, "in": width, "out": draw(sizes)}
    if kind in ("conv1d", "conv2d"):
        k = draw(st.sampled_from((1, 3, 5)))
        return {
            "kind": kind,
            "in": width,
            "out": draw(sizes),
            "k": k,
            "bias": draw(st.booleans()),
        }
    if kind in ("batchnorm", "layernorm"):
        return {"kind": kind, "c": width}
    if kind == "embedding":
        return {"kind": kind, "num": draw(st.integers(TIME, TIME + 3)), "c": width}
    if kind in ("lstm", "gru"):
        return {
            "kind": kind,
            "in": width,
            "hidden": draw(st.sampled_from((2, 3, 4, 6))),
            "layers": draw(st.integers(1, 2)),
            "bidirectional": draw(st.booleans()),
        }
    heads = draw(st.sampled_from([h for h in (1, 2, 3, 4) if width % h == 0]))
    return {"kind": "attention", "c": width, "heads": heads}


@st.composite
def trees(draw) -> tuple[dict, int]:
    """(a random nested model description, its input width)."""
    budget = [draw(st.integers(1, MAX_LEAVES))]

    def container(kind: str, width: int, depth: int) -> tuple[dict, int]:
        children = []
        for _ in range(draw(st.integers(1, 3))):
            if budget[0] <= 0:
                break
            child, width = node(width, depth + 1)
            children.append(child)
        result = {"kind": kind, "children": children}
        if kind in ("dict", "custom"):
            result["names"] = draw(
                st.lists(
                    st.sampled_from(NAMES),
                    min_size=len(children),
                    max_size=len(children),
                    unique=True,
                )
            )
        return result, width

    def node(width: int, depth: int) -> tuple[dict, int]:
        if depth < MAX_DEPTH and budget[0] > 1 and draw(st.booleans()):
            return container(draw(st.sampled_from(CONTAINERS)), width, depth)
        budget[0] -= 1
        leaf = draw(leaves(width))
        return leaf, out_width(leaf)

    width = draw(st.sampled_from(WIDTHS))
    root, _ = container("custom", width, 0)
    return root, width


@dataclass(frozen=True)
class Case:
    base_framework: str
    raw_framework: str
    tree: dict
    width: int

    @property
    def cross(self) -> bool:
        return self.base_framework != self.raw_framework


@st.composite
def cases(draw) -> Case:
    base, raw = draw(st.sampled_from(DIRECTIONS))
    tree, width = draw(trees())
    return Case(base, raw, tree, width)


def _resizes(leaf: dict) -> list[tuple[str, object]]:
    """Every (field, new value) that changes one size or option of a leaf."""
    kind, options = leaf["kind"], []
    fields = {
        "linear": {"in": WIDTHS, "out": WIDTHS},
        "conv1d": {"in": WIDTHS, "out": WIDTHS, "k": (1, 3, 5), "bias": (True, False)},
        "batchnorm": {"c": WIDTHS},
        "layernorm": {"c": WIDTHS},
        "embedding": {"num": range(TIME, TIME + 4), "c": WIDTHS},
        "lstm": {
            "in": WIDTHS,
            "hidden": (2, 3, 4, 6),
            "layers": (1, 2),
            "bidirectional": (True, False),
        },
        "attention": {
            "c": [w for w in WIDTHS if w % leaf.get("heads", 1) == 0],
            "heads": [h for h in (1, 2, 3, 4) if leaf.get("c", 1) % h == 0],
        },
    }
    fields["conv2d"], fields["gru"] = fields["conv1d"], fields["lstm"]
    for field, values in fields[kind].items():
        options += [(field, value) for value in values if value != leaf[field]]
    return options


@dataclass(frozen=True)
class Mutation:
    kind: str
    where: str  # the container or leaf path it touched ("" is the root)


@st.composite
def mutations(draw, tree: dict) -> tuple[dict, Mutation]:
    """A copy of ``tree`` with one layer dropped, inserted, reordered, resized or replaced."""
    tree = copy.deepcopy(tree)
    containers = list(iter_containers(tree))
    leaf_list = list(iter_leaves(tree))
    kinds = ["insert"]
    if leaf_list:
        kinds += ["drop", "resize", "reclass"]
    if any(len(c["children"]) >= 2 for _, c in containers):
        kinds.append("reorder")
    kind = draw(st.sampled_from(kinds))
    if kind == "drop":
        path, parent = draw(
            st.sampled_from([pc for pc in containers if pc[1]["children"]])
        )
        index = draw(st.integers(0, len(parent["children"]) - 1))
        del parent["children"][index]
        if "names" in parent:
            del parent["names"][index]
    elif kind == "insert":
        path, parent = draw(st.sampled_from(containers))
        index = draw(st.integers(0, len(parent["children"])))
        parent["children"].insert(index, draw(leaves(draw(st.sampled_from(WIDTHS)))))
        if "names" in parent:
            free = [n for n in NAMES if n not in parent["names"]]
            assume(free)
            parent["names"].insert(index, draw(st.sampled_from(free)))
    elif kind == "reorder":
        path, parent = draw(
            st.sampled_from([pc for pc in containers if len(pc[1]["children"]) >= 2])
        )
        i, j = draw(
            st.lists(
                st.integers(0, len(parent["children"]) - 1),
                min_size=2,
                max_size=2,
                unique=True,
            )
        )
        for key in ("children", "names"):
            if key in parent:  # dict and custom names travel with their layers
                parent[key][i], parent[key][j] = parent[key][j], parent[key][i]
    elif kind == "resize":
        path, leaf = draw(st.sampled_from(leaf_list))
        field, value = draw(st.sampled_from(_resizes(leaf)))
        leaf[field] = value
    else:
        path, leaf = draw(st.sampled_from(leaf_list))
        other = draw(st.sampled_from([k for k in LEAVES if k != leaf["kind"]]))
        replacement = draw(leaves(in_width(leaf), other))
        leaf.clear()
        leaf.update(replacement)
    return tree, Mutation(kind, path)


# ---------------------------------------------------------------- the oracle


def leaf_units(path: str, leaf: dict, framework: str, cross: bool) -> list[tuple]:
    """(unit path, signature) of one leaf; equal signatures pair, different ones do not."""
    kind = leaf["kind"]
    if cross and kind in SPECIAL_KINDS:  # one opaque unit; its initializer checks sizes
        config = tuple(sorted((k, v) for k, v in leaf.items() if k != "kind"))
        return [(path, ("special", kind, config))]
    if kind == "linear":  # paddle's [in, out] weight counts in torch's [out, in] layout
        return [(path, ((leaf["out"], leaf["in"]), (leaf["out"],)))]
    if kind in ("conv1d", "conv2d"):
        weight = (leaf["out"], leaf["in"], leaf["k"]) + (
            (1,) if kind == "conv2d" else ()
        )
        return [(path, (weight,) + (((leaf["out"],),) if leaf["bias"] else ()))]
    if kind == "layernorm":
        return [(path, ((leaf["c"],), (leaf["c"],)))]
    if kind == "embedding":
        return [(path, ((leaf["num"], leaf["c"]),))]
    if kind == "batchnorm":  # torch adds num_batches_tracked, a scalar
        c = (leaf["c"],)
        return [(path, (c, c, c, c) + (((),) if framework == "torch" else ()))]
    if kind in ("lstm", "gru"):
        gates = (4 if kind == "lstm" else 3) * leaf["hidden"]
        directions = 2 if leaf["bidirectional"] else 1
        shapes = []
        for layer in range(leaf["layers"]):
            width = leaf["in"] if layer == 0 else leaf["hidden"] * directions
            for _ in range(directions):
                shapes += [(gates, width), (gates, leaf["hidden"]), (gates,), (gates,)]
        return [(path, tuple(shapes))]
    c = leaf["c"]  # attention
    if framework == "torch":  # packed q/k/v, then the out_proj child
        return [(path, ((3 * c, c), (3 * c,))), (f"{path}.out_proj", ((c, c), (c,)))]
    return [
        (f"{path}.{name}", ((c, c), (c,)))
        for name in ("q_proj", "k_proj", "v_proj", "out_proj")
    ]


def units(tree: dict, framework: str, cross: bool) -> list[tuple]:
    return [
        unit
        for path, leaf in iter_leaves(tree)
        for unit in leaf_units(path, leaf, framework, cross)
    ]


def first_divergence(base: list[tuple], raw: list[tuple]) -> Optional[tuple]:
    """(base unit path, raw unit path) where pairing in order first fails, or None.

    None on one side: that model ran out of units (the other has extra ones).
    """
    for (base_path, base_sig), (raw_path, raw_sig) in zip(base, raw):
        if base_sig != raw_sig:
            return base_path, raw_path
    if len(base) == len(raw):
        return None
    count = min(len(base), len(raw))
    return (
        base[count][0] if len(base) > count else None,
        raw[count][0] if len(raw) > count else None,
    )


# ---------------------------------------------------------------- helpers


def spec(framework: str) -> str:
    return f"{framework}:examples.random_models.build_{framework}"


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("property_scripts")


@pytest.fixture(scope="module")
def worker(scripts):
    with ScriptWorker(env=subprocess_env(), log=scripts / "worker.log") as running:
        yield running


_numbers = itertools.count()


def write_script(directory: Path, text: str) -> Path:
    path = directory / f"case_{next(_numbers)}.py"
    path.write_text(text)
    return path


# ---------------------------------------------------------------- the properties


@settings(max_examples=PAIR_EXAMPLES, **SETTINGS)
@given(case=cases())
def test_corresponding_models_get_equal_outputs(case, worker, scripts):
    note(f"{case.base_framework} -> {case.raw_framework}: {case.tree}")
    text = emit_text(
        spec(case.base_framework),
        spec(case.raw_framework),
        base_kwargs={"tree": case.tree},
        raw_kwargs={"tree": case.tree},
    )
    outcome = worker.request(
        {
            "op": "compare",
            "script": str(write_script(scripts, text)),
            "inputs": [["float32", [BATCH, TIME, case.width]]],
        }
    )
    assert outcome["padiff_gen_imported"] is False
    assert_outputs_match(outcome)


@settings(max_examples=MUTATION_EXAMPLES, **SETTINGS)
@given(case=cases(), data=st.data())
def test_one_mutation_is_reported_where_it_is(case, data, worker, scripts):
    side = data.draw(st.sampled_from(("base", "raw")), label="mutated side")
    mutated, mutation = data.draw(mutations(case.tree), label="mutation")
    trees = {"base": case.tree, "raw": case.tree, side: mutated}
    frameworks = {"base": case.base_framework, "raw": case.raw_framework}
    unit_lists = {
        role: units(trees[role], frameworks[role], case.cross) for role in trees
    }
    expected = first_divergence(unit_lists["base"], unit_lists["raw"])
    # Units whose path the other model lacks: what matching by path reports.
    unpaired = {
        role: {path for path, _ in unit_lists[role]}
        - {path for path, _ in unit_lists[other]}
        for role, other in (("base", "raw"), ("raw", "base"))
    }
    # Some mutations cannot be seen by pairing on shapes (two equal layers swapped; the
    # head count of a same-framework attention layer, whose tensors keep their shapes).
    assume(expected is not None)
    note(f"{case.base_framework} -> {case.raw_framework}, {side} mutated: {mutation}")
    note(f"base: {trees['base']}\nraw: {trees['raw']}\nexpected at: {expected}")

    pairing = pair_models(
        spec(case.base_framework),
        spec(case.raw_framework),
        base_kwargs={"tree": trees["base"]},
        raw_kwargs={"tree": trees["raw"]},
    )[0]
    error = pairing.first_error
    if error is None and mutation.kind == "reclass":
        # A layer replaced by one that computes the same (a conv1d of kernel 1, run
        # channels first, is a Linear): accepted only on the evidence of running both
        # models, and then the script makes their outputs equal.
        checked = [c for p in pairing.pairs for c in p.copies if c.condition]
        assert checked, "a layer of another kind was paired silently"
        assert all(CHECKED in c.condition for c in checked), checked
        text = emit_text(
            spec(case.base_framework),
            spec(case.raw_framework),
            base_kwargs={"tree": trees["base"]},
            raw_kwargs={"tree": trees["raw"]},
        )
        outcome = worker.request(
            {
                "op": "compare",
                "script": str(write_script(scripts, text)),
                "inputs": [["float32", [BATCH, TIME, case.width]]],
            }
        )
        assert_outputs_match(outcome)
    elif error is None:
        # Pairing in definition order cannot pair a mutated model. A matcher that pairs
        # by name may pair a reordered one, and then it must say so.
        assert mutation.kind == "reorder", "a mutated model was paired silently"
        assert any(pair.matched_by != "order" for pair in pairing.pairs)
    else:
        assert isinstance(error, MappingError)
        named = (
            error.base.path if error.base else None,
            error.raw.path if error.raw else None,
        )
        # In definition order both sides of the first divergence are named; matching
        # by path may instead name a unit whose path the other model lacks (the one
        # inserted, when two equal layers make the order ambiguous), and None beside it.
        assert any(named), error.text
        alone = None in named
        for role, path, wanted in zip(("base", "raw"), named, expected):
            if path is not None:
                assert path == wanted or (alone and path in unpaired[role]), error.text
                assert f"{role} `{path}" in error.text, error.text

    # The script made for the unmutated pair, given the mutated models, must refuse them
    # and leave the raw model as it was. (Rendered without black: the same code, faster.)
    plan = make_plan(
        spec(case.base_framework),
        spec(case.raw_framework),
        base_kwargs={"tree": case.tree},
        raw_kwargs={"tree": case.tree},
    )
    text, _ = render_script(plan, formatted=False)
    result = worker.request(
        {
            "op": "apply",
            "script": str(write_script(scripts, text)),
            "base_spec": _spec_dict(frameworks["base"], trees["base"]),
            "raw_spec": _spec_dict(frameworks["raw"], trees["raw"]),
        }
    )
    assert result["padiff_gen_imported"] is False
    if result["same_tensors"]:
        # e.g. two entries of a dict swapped: every tensor keeps its path and shape, so
        # the script copies by path, correctly.
        assert result["error"] is None, result["message"]
    else:
        assert result["error"] == "WeightMismatchError", result
        assert result["raw_changed"] == [], "the raw model was changed by a failed init"
        assert f"{side} `" in result["message"], result["message"]


def _spec_dict(framework: str, tree: dict) -> dict:
    return {
        "framework": framework,
        "target": f"examples.random_models.build_{framework}",
        "kwargs": {"tree": tree},
    }


# ---------------------------------------------------------------- the oracle itself


def test_the_oracle_agrees_with_the_frameworks():
    """The oracle's unit paths and shapes are those of real models (so it can be trusted)."""
    from examples.random_models import build_paddle, build_torch

    tree = {
        "kind": "custom",
        "names": ["stem", "mid"],
        "children": [
            {
                "kind": "seq",
                "children": [
                    {"kind": leaf, **fields}
                    for leaf, fields in (
                        ("linear", {"in": 4, "out": 6}),
                        ("conv1d", {"in": 6, "out": 8, "k": 3, "bias": False}),
                        ("conv2d", {"in": 8, "out": 6, "k": 5, "bias": True}),
                        ("batchnorm", {"c": 6}),
                        ("layernorm", {"c": 6}),
                        ("embedding", {"num": 7, "c": 6}),
                    )
                ],
            },
            {
                "kind": "dict",
                "names": ["rnn", "gru", "attn"],
                "children": [
                    {
                        "kind": "lstm",
                        "in": 6,
                        "hidden": 3,
                        "layers": 2,
                        "bidirectional": True,
                    },
                    {
                        "kind": "gru",
                        "in": 6,
                        "hidden": 4,
                        "layers": 1,
                        "bidirectional": False,
                    },
                    {"kind": "attention", "c": 4, "heads": 2},
                ],
            },
        ],
    }
    for framework, build in (("torch", build_torch), ("paddle", build_paddle)):
        assert own_tensors(build(tree), framework) == units(tree, framework, False)


def own_tensors(model, framework: str) -> list[tuple]:
    """(layer path, shapes of the tensors it holds itself), straight from the framework.

    A tensor already met is skipped: paddle's RNN cells hold the RNN's weights again.
    Layers without tensors of their own are left out.
    """
    seen, found = set(), []
    layers = (
        model.named_modules()
        if framework == "torch"
        else model.named_sublayers(include_self=True)
    )
    for path, layer in layers:
        # A layer's own saved tensors: the keys of its state dict without a dot
        # (non-persistent buffers such as paddle's RNN _dropout_state are not saved).
        state = layer.state_dict(keep_vars=True)
        tensors = [(key, tensor) for key, tensor in state.items() if "." not in key]
        shapes = []
        for _, tensor in tensors:
            if id(tensor) not in seen:
                seen.add(id(tensor))
                shapes.append(tuple(int(d) for d in tensor.shape))
        if framework == "paddle" and type(layer).__name__ == "Linear":
            shapes[0] = shapes[0][::-1]  # the oracle speaks torch's [out, in] layout
        if shapes:
            found.append((path, tuple(shapes)))
    return found
