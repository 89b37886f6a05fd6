"""The libcst source collector: what gets copied into scripts, and what is refused."""

from __future__ import annotations

import functools
import importlib
import sys
import textwrap

import pytest

from padiff_gen.errors import InlineError
from padiff_gen.codegen.extract import SourceCollector, locate


@pytest.fixture
def make_module(tmp_path, monkeypatch):
    """Write a package of modules to tmp_path and import them by name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    created = []

    def make(name: str, source: str):
        path = tmp_path.joinpath(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.parents:
            if parent == tmp_path:
                break
            (parent / "__init__.py").touch()
        path.write_text(textwrap.dedent(source))
        created.append(name)
        importlib.invalidate_caches()
        return importlib.import_module(name)

    yield make
    for name in created:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
    root_packages = {name.split(".")[0] for name in created}
    for key in [k for k in sys.modules if k.split(".")[0] in root_packages]:
        del sys.modules[key]


def script_of(collector: SourceCollector) -> str:
    lines = [line for group in collector.imports for line in group]
    return "\n".join(lines) + "\n\n" + "\n\n".join(collector.definitions) + "\n"


def test_helpers_constants_and_imports_come_along(make_module):
    module = make_module(
        "xpkg_a.inits",
        """
        import math
        from collections import OrderedDict as OD

        SCALE = 2.0
        UNUSED = 1


        def helper(value):
            return value * SCALE


        def init_logic(base_model, raw_model):
            return OD(a=helper(math.pi))
        """,
    )
    collector = SourceCollector()
    assert collector.add(module.init_logic) == "init_logic"
    text = script_of(collector)
    assert "import math" in text
    assert "from collections import OrderedDict as OD" in text
    assert "SCALE = 2.0" in text and "def helper(value)" in text
    assert "UNUSED" not in text
    namespace: dict = {}
    exec(text, namespace)
    assert namespace["init_logic"](None, None)["a"] == pytest.approx(
        2 * 3.141592653589793
    )


def test_name_collisions_are_renamed_consistently(make_module):
    first = make_module(
        "xpkg_b.one",
        """
        OFFSET = 1


        def init_logic(base_model, raw_model):
            return OFFSET
        """,
    )
    second = make_module(
        "xpkg_b.two",
        """
        OFFSET = 10


        def init_logic(base_model, raw_model):
            return OFFSET + 5
        """,
    )
    collector = SourceCollector(reserved=["main"])
    names = [collector.add(first.init_logic), collector.add(second.init_logic)]
    assert names == ["init_logic", "init_logic_2"]
    namespace: dict = {}
    exec(script_of(collector), namespace)
    assert namespace["init_logic"](None, None) == 1
    assert namespace["init_logic_2"](None, None) == 15


def test_relative_imports_become_absolute_and_registration_is_dropped(make_module):
    make_module(
        "xpkg_c.util",
        "import json\n\n\ndef dumps(value):\n    return json.dumps(value)\n",
    )
    module = make_module(
        "xpkg_c.inits",
        """
        from padiff_gen.special_init import global_special_init_pool

        from .util import dumps


        @global_special_init_pool.register("torch", "XcA", "paddle", "XcB")
        def init_logic(base_model, raw_model):
            return dumps([1])
        """,
    )
    collector = SourceCollector()
    collector.add(module.init_logic)
    text = script_of(collector)
    assert "from xpkg_c.util import dumps" in text
    assert "register" not in text and "padiff_gen" not in text
    from padiff_gen.special_init import InitKey, global_special_init_pool

    assert (
        global_special_init_pool.get(InitKey("torch", "XcA", "paddle", "XcB"))
        is not None
    )


def test_code_imported_from_padiff_gen_is_inlined_not_imported():
    from padiff_gen.runtime.core.checks import check_tensors

    collector = SourceCollector()
    collector.add(check_tensors)
    text = script_of(collector)
    assert "padiff_gen" not in text
    assert "def find_tensor_problem" in text and "class WeightMismatchError" in text


def _closure_maker():
    offset = 3

    def init_logic(base_model, raw_model):
        return offset

    return init_logic


def test_lambdas_closures_builtins_and_partials_are_refused():
    cases = {
        "lambda": lambda base_model, raw_model: None,
        "closure": _closure_maker(),
        "built-in": print,
        "partial": functools.partial(print, 1),
    }
    for word, func in cases.items():
        with pytest.raises(InlineError) as caught:
            locate(func)
        assert "Cannot inline" in str(caught.value), word
        assert "top-level `def`" in caught.value.hint


def test_functions_defined_in_main_are_refused(make_module):
    module = make_module(
        "xpkg_d.inits", "def init_logic(base_model, raw_model):\n    pass\n"
    )
    module.init_logic.__module__ = "__main__"
    with pytest.raises(InlineError, match="__main__"):
        locate(module.init_logic)


def test_undefined_names_are_reported_at_emit_time(make_module):
    module = make_module(
        "xpkg_e.inits",
        "def init_logic(base_model, raw_model):\n    return missing_helper(base_model)\n",
    )
    with pytest.raises(InlineError, match="missing_helper"):
        SourceCollector().add(module.init_logic)


def test_requesting_a_taken_name_is_an_error(make_module):
    module = make_module(
        "xpkg_f.inits", "def init_logic(base_model, raw_model):\n    pass\n"
    )
    collector = SourceCollector(reserved=["init_weights"])
    with pytest.raises(InlineError):
        collector.add(module.init_logic, "init_weights")
