"""Both models made runnable a layer at a time, with random weights, for the probes
of :mod:`padiff_gen.analysis.evidence.block_probe`.

A layer's weights are made when it is called (a forward pre-hook) and let go when it
returns, from :mod:`padiff_gen.analysis.evidence.probe_values`: base tensors from values defined element
by element, raw tensors straight from those through table rows (the pairing's, or a
candidate layout's), so neither model is ever held. Stacked experts hold one expert's
values; a lookup table is made at the rows its input asks for. The weights made at once
stay under a budget (:func:`budget_bytes`); a tensor beyond it raises :class:`TooLarge`.
The models are left as they were after every run.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from ..layouts.stacked import EXPERT
from ...knowledge import frameworks
from ...knowledge.layer_kinds import EMBEDDING
from ...plan.operations import COPY
from ...plan.plan import Pairing, TensorCopy, TensorRef, Unit, UnitPair
from .probe_values import IndexMap, Values, family_path, seed_of, stretched
from ..walk import layers_by_path
from .weights import flatten_outputs, value_scale

SEED = 0
# The weights made at once, kept ones included, stay under this (a lookup table counts
# the rows it makes, stacked experts one expert): a 7B model's largest Linear is 0.55 GB
# in float32, a 70B model's 0.9 GB. Beyond it the block is "too large to make here".
BUDGET_BYTES = 768 << 20
# ... or a quarter of the memory available when emit starts, up to this.
MAX_BUDGET_BYTES = 8 << 30
# Made tensors kept for the next call (experts alike, a block run per candidate): base
# tensors and raw ones share it. 2 x 256 MB took Qwen3-Next's emit to 1.5 GB.
CACHE_BYTES = 256 << 20
CACHE_ENTRY_BYTES = 128 << 20
# A torch model built for probing makes tensors up to this many elements for real
# (rotary frequencies, masks, norms: what a forward needs and weights do not give).
SMALL_ELEMENTS = 1 << 20


class TooLarge(Exception):
    """A tensor the block needs is too large to make here."""


class _Reached(Exception):
    """The run got to the layer it was to stop at; its arguments are kept."""

    def __init__(self, args: tuple, kwargs: dict) -> None:
        super().__init__("reached")
        self.args_kwargs = (args, kwargs)


# ---------------------------------------------------------------- frameworks


# ---------------------------------------------------------------- building for probes


def probe_model(proxy) -> Any:
    """The model to probe: the proxy's own (paddle's LazyGuard keeps buffers real, and a
    model with weights has them), or for a torch model built on the meta device from a
    spec, the same model built with its small tensors real (its rotary frequencies are
    computed in the constructor and no weight gives them back). None when neither."""
    model = proxy.model
    if not frameworks.adapter(proxy.framework).has_meta_tensors(model):
        return model
    if proxy.spec is None:
        return None
    if proxy.probe_build is None:
        from ...load.load import resolve_spec

        try:
            target = resolve_spec(proxy.spec, "")
            with _small_tensors_real():
                proxy.probe_build = target(**proxy.spec.kwargs)
        except Exception:  # a constructor that mixes the two: no block probe
            proxy.probe_build = False
    return proxy.probe_build or None


@contextlib.contextmanager
def _small_tensors_real() -> Iterator[None]:
    """torch factories make tensors of up to SMALL_ELEMENTS for real, larger ones on
    the meta device (no memory), and skip random fills of meta tensors."""
    import torch
    from torch.utils._device import _device_constructors

    from ...runtime.conversion.io_torch import SkipMetaInit

    constructors = _device_constructors()

    class SmallReal(SkipMetaInit):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in constructors and kwargs.get("device") is None:
                meta = func(*args, **{**kwargs, "device": "meta"})
                if isinstance(meta, torch.Tensor) and meta.numel() > SMALL_ELEMENTS:
                    return meta
                return func(*args, **kwargs)
            return super().__torch_function__(func, types, args, kwargs)

    with SmallReal():
        yield


# ---------------------------------------------------------------- the models' tensors


@dataclasses.dataclass(frozen=True)
class _Slot:
    """One tensor a layer's call needs: where it lives and what it is."""

    ref: TensorRef
    owner: str  # the layer holding it in _parameters / _buffers
    name: str
    unit: Unit


def _hook_layer(unit: Unit, ref: TensorRef) -> str:
    """The layer whose call needs ``ref``: the unit's own layer, or for a merged unit,
    the member holding it."""
    for member in unit.members:
        if ref.path.startswith(member + "."):
            return member
    return unit.path


def _inside(path: str, block: str) -> bool:
    return block == "" or path == block or path.startswith(block + ".")


def _under(unit: Unit, block: str) -> bool:
    return all(_inside(path, block) for path in (unit.members or (unit.path,)))


def _stacked_lists(pairing: Pairing) -> dict[str, int]:
    """Paths of merged units that are lists of experts (their tensors share values per
    expert), and of their stacked partners, with the number of experts."""
    found = {}
    for pair in pairing.pairs:
        for unit, other in ((pair.base, pair.raw), (pair.raw, pair.base)):
            if unit is None or other is None or not unit.members:
                continue
            indices = {
                match["index"]
                for member in unit.members
                if (match := EXPERT.match(member)) and match["prefix"] == unit.path
            }
            if indices and len(indices) > 1:
                found[unit.path] = len(indices)
                found[other.path] = len(indices)
    return found


class _Cache:
    """Made arrays by what they hold, kept while they fit. First come, first kept (the
    experts of a list are made in turn, again and again, so evicting the oldest would
    keep nothing), except that an array made again (a list's experts share their
    values; a projection no candidate layout changes is made again for each) displaces
    arrays used less, and may be as large as the cache: DeepSeek-V3's
    shared expert, made first, kept its 256 routed experts' 59 MB tensors from being
    kept, and each was hashed again for every expert (185 s of a 190 s emit)."""

    def __init__(self) -> None:
        self.entries: dict = {}
        self.hits: dict = {}  # key -> times a kept array was asked for since kept
        self.misses: dict = {}  # key -> times an array was made for it
        self.bytes = 0

    def get(self, key, make: Callable[[], np.ndarray]) -> np.ndarray:
        if key in self.entries:
            self.hits[key] += 1
            return self.entries[key]
        array = make()
        size = _owned_bytes(array)
        misses = self.misses.get(key, 0)
        self.misses[key] = misses + 1
        if size <= CACHE_ENTRY_BYTES or (misses and size <= CACHE_BYTES):
            if self.bytes + size > CACHE_BYTES and misses:
                self._evict_used_less(CACHE_BYTES - size, misses)
            if self.bytes + size <= CACHE_BYTES:
                self.entries[key] = array
                self.hits[key] = 0
                self.bytes += size
        return array

    def _evict_used_less(self, room: int, than: int) -> None:
        """Let go of kept arrays asked for fewer than ``than`` times since kept (those
        asked for least first, then the oldest), until at most ``room`` bytes are
        kept: an array made again and again displaces, in the end, arrays used less."""
        for key in sorted(
            (k for k, hits in self.hits.items() if hits < than),
            key=lambda k: self.hits[k],
        ):
            if self.bytes <= room:
                return
            self.bytes -= _owned_bytes(self.entries.pop(key))
            del self.hits[key]

    def clear(self) -> None:
        self.entries.clear()
        self.hits.clear()
        self.bytes = 0


def _owned_bytes(array: np.ndarray) -> int:
    base = array
    while isinstance(base.base, np.ndarray):
        base = base.base
    return base.nbytes


class ProbeModels:
    """Both models, made runnable a layer at a time with the probe's values.

    Base tensors get :class:`Values` (seeded by their path; experts of a list share
    one); raw tensors are made from those through table rows, the pairing's or a
    candidate's. Nothing stays in the models: every tensor goes back after the call
    that needed it.
    """

    def __init__(self, pairing: Pairing, base_model: Any, raw_model: Any) -> None:
        self.pairing = pairing
        self.models = {"base": base_model, "raw": raw_model}
        self.frameworks = {"base": pairing.base.framework, "raw": pairing.raw.framework}
        self.adapters = {
            role: frameworks.adapter(fw) for role, fw in self.frameworks.items()
        }
        self.layers = {role: layers_by_path(m) for role, m in self.models.items()}
        self.stacked = _stacked_lists(pairing)
        tied = [p for p in pairing.pairs if p.matched_by == "tied"]
        self.units = {  # with the heads that only hold a tied tensor
            "base": pairing.base_units + tuple(p.base for p in tied if p.base),
            "raw": pairing.raw_units + tuple(p.raw for p in tied if p.raw),
        }
        self.slots = {role: self._slots(role) for role in ("base", "raw")}
        self.base_refs = {
            t.path: (t, u)
            for u in pairing.base_units
            for t in u.tensors
            if not t.tied_to
        }
        self.rows = self._rows(pairing.pairs)
        # Raw units a special initializer makes (the others are made from rows).
        self.initialized = {
            p.raw.path: p for p in pairing.pairs if p.raw and p.initializer
        }
        # Base tensors made whole (placed, or cut into raw ones), and raw tensors made
        # (the experts of a list, made alike, are one array): both kept while they fit.
        self.cache = _Cache()
        self.values: dict[str, Values] = {}
        self.live = 0  # bytes of the weights made for the layers running now
        self.budget = budget_bytes()

    # -- where tensors live

    def _slots(self, role: str) -> dict[str, list[_Slot]]:
        slots: dict[str, list[_Slot]] = {}
        for unit in self.units[role]:
            for ref in unit.tensors:
                owner, _, name = ref.path.rpartition(".")
                where = unit.path if unit.special else _hook_layer(unit, ref)
                slots.setdefault(where, []).append(_Slot(ref, owner, name, unit))
        return slots

    @staticmethod
    def _rows(pairs: Sequence[UnitPair]) -> dict[str, TensorCopy]:
        return {c.raw.path: c for pair in pairs for c in pair.copies}

    def rows_with(self, pairs: Sequence[UnitPair]) -> dict[str, TensorCopy]:
        """The raw rows, with these pairs' rows in place of the pairing's."""
        rows = dict(self.rows)
        rows.update(self._rows(pairs))
        return rows

    def runs(self, path: str, role: str = "base") -> bool:
        """Whether the layer at ``path`` has a forward of its own."""
        layer = self.layers[role].get(path)
        return layer is not None and self.adapters[role].runs(layer)

    def weight_bytes(self, block: str, until: str = "", whole: bool = False) -> int:
        """The bytes of base weights a run of ``block`` makes (a stacked tensor counts
        one expert, a lookup table nothing; ``whole``: every expert, the memory a
        framework may copy them into); with ``until``, only of the units defined
        before the layer at ``until``."""
        total = 0
        for unit in self.units["base"]:
            if not _under(unit, block):
                continue
            if until and _under(unit, until):
                break
            made = 0
            for ref in unit.tensors:
                if ref.tied_to or (unit.kind == EMBEDDING and len(ref.shape) == 2):
                    continue
                size = 4 * math.prod(ref.shape)
                if self._alike(unit, ref) and not whole:
                    size //= max(ref.shape[0], 1)
                made += size
            if unit.members and unit.path in self.stacked and not whole:  # one made
                made //= self.stacked[unit.path]
            total += made
        return total

    # -- values

    def base_values(self, path: str) -> Values:
        if path not in self.values:
            ref, unit = self.base_refs[path]
            layer = self.layers["base"].get(ref.path.rpartition(".")[0])
            name = ref.path.rpartition(".")[2]
            alike = 0 if self._alike(unit, ref) else None
            shape = ref.shape[1:] if alike is not None else ref.shape
            mean, std = value_scale(layer, name, shape, self.frameworks["base"])
            family = family_path(path, unit.path) if unit.path in self.stacked else path
            self.values[path] = Values(seed_of(family), ref.shape, std, mean, alike)
        return self.values[path]

    def _alike(self, unit: Unit, ref: TensorRef) -> bool:
        """A stacked tensor [experts, ...] whose experts are made alike."""
        experts = self.stacked.get(unit.path)
        return (
            experts is not None
            and not unit.members
            and len(ref.shape) >= 2
            and ref.shape[0] == experts
        )

    def _base_array(self, slot: _Slot, rows_used: Optional[np.ndarray]) -> np.ndarray:
        path = slot.ref.tied_to or slot.ref.path
        values = self.base_values(path)
        if rows_used is not None and self._lookup(slot):
            self._reserve(slot.ref, len(rows_used) * slot.ref.shape[1] * 4)
            return self._table(slot.ref.shape, rows_used, values)
        self._reserve(slot.ref, _bytes(values))
        return self._whole(values)

    def _whole(self, values: Values) -> np.ndarray:
        return self.cache.get(
            ("base", values.key(), values.index_map().key(), values.shape),
            values.array,
        )

    def _source(self, values: Values) -> Optional[np.ndarray]:
        """A base tensor made whole, when small enough to keep: raw tensors are then
        cut from it instead of hashed again (one per candidate layout)."""
        size = 4 * math.prod(values.shape)
        if values.alike_axis is not None:
            size //= max(values.shape[values.alike_axis], 1)
        return self._whole(values) if size <= CACHE_ENTRY_BYTES else None

    def _raw_array(
        self, slot: _Slot, rows: dict[str, TensorCopy], rows_used: Optional[np.ndarray]
    ) -> np.ndarray:
        path = slot.ref.tied_to or slot.ref.path
        row = rows.get(path)
        if row is None:
            raise LookupError(f"no row makes raw `{path}`")
        sources = [self.base_values(t.tied_to or t.path) for t in row.base]
        blocks = _blocks(row)
        if (
            rows_used is not None
            and self._lookup(slot)
            and row.transform == COPY
            and len(sources) == 1
        ):
            values = sources[0]
            self._reserve(slot.ref, len(rows_used) * slot.ref.shape[1] * 4)
            return self._table(row.raw.shape, rows_used, values)
        maps = [
            (region, index, _mapped(sources[index], views))
            for region, index, views in blocks
        ]
        signature = tuple(
            (region, sources[index].key(), where.key()) for region, index, where in maps
        )
        shape = row.raw.shape
        experts = self.stacked.get(slot.unit.path)
        if experts and not slot.unit.members and shape and shape[0] == experts:
            single = _alike_slices(maps, sources, experts)
            if single is not None:
                self._reserve(slot.ref, 4 * math.prod(shape[1:]))
                return self.cache.get(
                    ("raw-alike", single[0], shape),
                    lambda: _stretch_fill(shape, single[1], sources),
                )
        self._reserve(slot.ref, 4 * math.prod(shape))
        return self.cache.get(
            ("raw", signature, shape),
            lambda: _fill_blocks(shape, blocks, maps, sources, self._source),
        )

    def _reserve(self, ref: TensorRef, size: int) -> None:
        """Count ``size`` bytes as made now; TooLarge when that goes over the budget
        even without the arrays kept for later."""
        budget = self.budget
        if self.live + self.kept + size > budget:
            self.forget()
        if self.live + size > budget:
            raise TooLarge(
                f"`{ref.path}` {list(ref.shape)} ({_size(size)}, with "
                f"{_size(self.live)} made already; the budget here is {_size(budget)}, "
                "a quarter of the memory available)"
            )
        self.live += size

    @property
    def kept(self) -> int:
        return self.cache.bytes

    def forget(self) -> None:
        """Let go of every array kept for later."""
        self.cache.clear()

    def _lookup(self, slot: _Slot) -> bool:
        """A lookup table: made at the rows its input asks for."""
        return (
            slot.unit.kind == EMBEDDING
            and slot.name == "weight"
            and len(slot.ref.shape) == 2
        )

    def _table(self, shape, rows_used, values: Values) -> np.ndarray:
        """A lookup table of ``values`` made at ``rows_used``, zeros elsewhere (whose
        pages are never made) and at the padding rows of either model."""
        table = np.zeros(shape, np.float32)
        full = values.index_map()
        for row in rows_used:
            if 0 <= row < shape[0]:
                target = table[row : row + 1]
                values.fill(target, full.view(("narrow", 0, int(row), 1)))
        for padding in self._padding_rows():
            if 0 <= padding < shape[0]:
                table[padding] = 0.0
        return table

    def _padding_rows(self) -> set[int]:
        """Rows an Embedding of either model keeps at zero (paddle outputs zeros there)."""
        found = set()
        for role in ("base", "raw"):
            for unit in self.units[role]:
                if unit.kind == EMBEDDING:
                    layer = self.layers[role].get(unit.path)
                    for attribute in ("padding_idx", "_padding_idx"):
                        value = getattr(layer, attribute, None)
                        if isinstance(value, int) and value >= 0:
                            found.add(value)
        return found

    # -- running

    def run(
        self,
        role: str,
        path: str,
        arguments: tuple,
        rows: Optional[dict[str, TensorCopy]] = None,
        stop: str = "",
        order: Optional[list] = None,
        eager: bool = False,
    ) -> Any:
        """The first output of the layer at ``path`` called alone on ``arguments``
        ((args, kwargs) of framework tensors, or a list of arrays), in eval mode, with
        the probe's weights; with ``stop``, the (args, kwargs) the layer at ``stop``
        was called with (the run ends there). Raises on anything that does not run.

        Each layer's weights are made when it is called; a layer whose forward reads a
        sub-layer's weight without calling it (torch's MultiheadAttention reads its
        out_proj's) fails so, and the run is made again with every weight of the layer
        at ``path`` made before it starts (as far as the budget allows). ``order``,
        when given, gets the paths of the layers holding weights, as they are called.
        A model built with its weights does not fail so (the weight it reads is its
        own, not the probe's): with ``eager``, the run is made so from the start.
        """
        if eager:
            return self._run(role, path, arguments, rows, stop, eager=True)
        try:
            return self._run(
                role, path, _fresh(arguments), rows, stop, eager=False, order=order
            )
        except TooLarge:
            raise
        except Exception:
            if order is not None:
                raise  # the order of calls is only seen one layer at a time
            return self._run(role, path, arguments, rows, stop, eager=True)

    def _run(self, role, path, arguments, rows, stop, eager: bool, order=None):
        adapter = self.adapters[role]
        model = self.models[role]
        layer = self.layers[role][path]
        rows = self.rows if rows is None else rows
        if isinstance(arguments, list):
            arguments = (tuple(adapter.tensor_view(a.copy()) for a in arguments), {})
        args, kwargs = arguments
        placed: list[tuple[dict, str, Any]] = []
        live = self.live
        handles = []
        flags = [(l, l.training) for l in adapter.layers(model)]

        def place(hook_path: str, inputs: tuple) -> list:
            done = []
            before = self.live
            done.append((self, before))  # what _restore gives back to the budget
            rows_used = _ids(inputs)
            for slot in self.slots[role].get(hook_path, ()):
                if role == "raw" and slot.unit.path in self.initialized:
                    continue
                owner = self.layers[role][slot.owner]
                store = (
                    owner._buffers if slot.name in owner._buffers else owner._parameters
                )
                if not _floating(slot.ref.dtype):
                    continue
                if role == "base":
                    array = self._base_array(slot, rows_used)
                else:
                    array = self._raw_array(slot, rows, rows_used)
                done.append((store, slot.name, store[slot.name]))
                store[slot.name] = adapter.tensor_view(array)
            if role == "raw":
                done += self._initialize(hook_path, adapter)
            return done

        hook_paths = [
            hook_path
            for hook_path in self.slots[role]
            if _inside(hook_path, path) and hook_path in self.layers[role]
        ]
        for inner, hooked in self.layers[role].items():
            if _inside(inner, path) and adapter.guards(hooked):
                handles.append(adapter.pre_hook(hooked, adapter.guard))
        for hook_path in [path] if eager else hook_paths:
            hooked = self.layers[role][hook_path]
            pending: list = []

            def before(l, inputs, hook_path=hook_path, pending=pending):
                if order is not None:
                    order.append(hook_path)
                if not eager:
                    pending.append(place(hook_path, inputs))
                    return
                for each in hook_paths:  # every weight of the layer, made now
                    pending.append(place(each, ()))

            def after(l, inputs, output, pending=pending):
                while pending:
                    _restore(pending.pop())
                    if not eager:
                        break

            handles.append(adapter.pre_hook(hooked, before))
            handles.append(adapter.post_hook(hooked, after))
            placed.append(pending)
        stopper = None
        if stop:
            stopper = self.layers[role][stop]

            def reached(*a, **k):
                raise _Reached(a, k)

            stopper.forward = reached
        try:
            model.eval()
            with adapter.no_grad():
                try:
                    output = layer(*args, **kwargs)
                except _Reached as got:
                    return got.args_kwargs
            if stop:
                raise LookupError(f"the run did not reach `{stop}`")
            arrays = flatten_outputs(output)
            if not arrays:
                raise LookupError("the layer gave no tensor")
            return arrays[0]
        finally:
            if stopper is not None:
                del stopper.forward
            for handle in handles:
                handle.remove()
            for pending in placed:
                while pending:
                    _restore(pending.pop())
            self.live = live
            for l, training in flags:
                l.training = training

    def _initialize(self, hook_path: str, adapter) -> list:
        """A raw layer-map unit: storage for its tensors, then its initializer from the
        base layer made with the probe's values."""
        pair = self.initialized.get(hook_path)
        if pair is None:
            return []
        done = []
        for slot in self.slots["raw"].get(hook_path, ()):
            owner = self.layers["raw"][slot.owner]
            store = owner._buffers if slot.name in owner._buffers else owner._parameters
            if _floating(slot.ref.dtype):
                self._reserve(slot.ref, 4 * math.prod(slot.ref.shape))
                done.append((store, slot.name, store[slot.name]))
                store[slot.name] = adapter.tensor_view(
                    np.zeros(slot.ref.shape, np.float32)
                )
        base_adapter = self.adapters["base"]
        lent = []
        for slot in self.slots["base"].get(pair.base.path, ()):
            owner = self.layers["base"][slot.owner]
            store = owner._buffers if slot.name in owner._buffers else owner._parameters
            if _floating(slot.ref.dtype):
                lent.append((store, slot.name, store[slot.name]))
                store[slot.name] = base_adapter.tensor_view(
                    self._base_array(slot, None)
                )
        try:
            pair.initializer.func(
                self.layers["base"][pair.base.path], self.layers["raw"][pair.raw.path]
            )
        finally:
            _restore(lent)
        return done


def _restore(done: list) -> None:
    """Put back what a layer's call replaced, and its bytes into the budget."""
    for entry in reversed(done):
        if len(entry) == 2:
            probe, live = entry
            probe.live = min(probe.live, live)
            continue
        store, name, previous = entry
        store[name] = previous


def _floating(dtype: str) -> bool:
    return "float" in dtype


def _ids(inputs: tuple) -> Optional[np.ndarray]:
    """The distinct values of a call's first argument when it holds integers."""
    if not inputs:
        return None
    first = inputs[0]
    if not hasattr(first, "numpy") or not hasattr(first, "dtype"):
        return None
    if "int" not in str(first.dtype):
        return None
    return np.unique(
        np.asarray(
            first.detach().cpu().numpy()
            if hasattr(first, "detach") and hasattr(first, "cpu")
            else first.numpy()
        )
    )


def budget_bytes() -> int:
    """BUDGET_BYTES, or a quarter of the memory available now (Linux's MemAvailable)
    when that is more, up to MAX_BUDGET_BYTES."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    return max(BUDGET_BYTES, min(available // 4, MAX_BUDGET_BYTES))
    except (OSError, ValueError):
        pass
    return BUDGET_BYTES


def _size(count: int) -> str:
    """A number of bytes as people read it: 543 MiB, 1.2 GiB."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} B"


def _bytes(values: Values) -> int:
    """The bytes a base tensor takes made whole (one slice when alike along an axis)."""
    size = 4 * math.prod(values.shape)
    if values.alike_axis is not None:
        size //= max(values.shape[values.alike_axis], 1)
    return size


def _blocks(row: TensorCopy) -> list:
    """[(raw region, base index, views)] of a row (see runtime.core.layouts.layout_blocks)."""
    return row.transform.blocks([t.shape for t in row.base], row.raw.shape)


def _mapped(values: Values, views) -> IndexMap:
    where = values.index_map()
    for step in views:
        where = where.view(step)
    return where


def _fill_blocks(shape, blocks, maps, sources, whole) -> np.ndarray:
    """A raw tensor made block by block: cut from its base tensor when ``whole`` gives
    that whole, else hashed straight into place."""
    out = np.zeros(shape, np.float32)
    for (region, index, views), (_, _, where) in zip(blocks, maps):
        slices = [slice(None)] * len(shape)
        for axis, start, length in region:
            slices[axis] = slice(start, start + length)
        target = out[tuple(slices)]
        source = whole(sources[index])
        if source is None:
            sources[index].fill(target, where)
        else:
            target[...] = _array_view(source, views)
    return out


def _array_view(array: np.ndarray, views) -> np.ndarray:
    """An array seen through the runtime's views (see runtime.core.layouts)."""
    for name, *arguments in views:
        if name == "transpose":
            array = np.swapaxes(array, -1, -2)
        elif name == "narrow":
            axis, start, length = arguments
            array = array[(slice(None),) * axis + (slice(start, start + length),)]
        elif name == "select":
            axis, index = arguments
            array = array[(slice(None),) * axis + (index,)]
        elif name == "unsqueeze":
            array = np.expand_dims(array, arguments[0])
        else:
            array = array.reshape(arguments[0])
    return array


def _alike_slices(maps, sources, experts: int):
    """When every expert's slice of a stacked raw tensor is made from the same values
    the same way: (its signature, its blocks with the expert axis dropped); else None.
    """
    per_expert: dict[int, list] = {}
    for region, index, where in maps:
        lead = [r for r in region if r[0] == 0]
        if len(lead) != 1 or lead[0][2] != 1:
            return None
        rest = tuple(r for r in region if r[0] != 0)
        per_expert.setdefault(lead[0][1], []).append(
            (rest, sources[index].key(), where.key(), index, where)
        )
    if len(per_expert) != experts:
        return None
    signatures = {tuple(b[:3] for b in blocks) for blocks in per_expert.values()}
    if len(signatures) != 1:
        return None
    first = per_expert[0]
    return next(iter(signatures)), [
        (rest, index, where) for rest, _, _, index, where in first
    ]


def _stretch_fill(shape, blocks, sources) -> np.ndarray:
    one = (1,) + tuple(shape[1:])
    single = np.zeros(one, np.float32)
    for rest, index, where in blocks:
        slices = [slice(None)] * len(one)
        for axis, start, length in rest:
            slices[axis] = slice(start, start + length)
        target = single[tuple(slices)]
        if where.shape != target.shape:
            target = target.reshape(where.shape)
        sources[index].fill(target, where)
    return stretched(single, 0, shape[0])


def _fresh(arguments):
    """Arguments for one more run: arrays as they are, captured ones copied (a KV cache
    among them would grow with every run)."""
    if isinstance(arguments, list):
        return arguments
    try:
        return copy.deepcopy(arguments)
    except Exception:
        return arguments
