"""Making the raw model's tensors from a base checkpoint without holding the raw model.

Both models are built without weights (torch's meta device, paddle's LazyGuard): they
name, shape and type every tensor and hold none. Each raw tensor is then made when the
writer asks for it: a TENSOR_TABLE row fills a fresh tensor from the checkpoint (read,
transposed, cast), and a layer copied by a special initializer is given storage alone,
filled from its base layer (read from the checkpoint for the occasion), handed out
tensor by tensor and let go. So memory holds one tensor in flight (one layer for special
initializers), never the model.

Two rows hold less than a tensor and its copy, when the checkpoint file is mapped into
memory (torch's zip format, safetensors read by torch, .pdparams): a tensor copied as
it is, in its own dtype, is written straight from the mapped file; a transposed one is
made from its source a block of rows at a time, each block's pages let go once copied.
"""

import threading
import weakref
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from .checkpoint import ELEMENT_SIZES, FLOATING, file_mapped, release_file_pages
from ..core.common import (
    CheckpointError,
    dtype_name,
    get_layer,
    get_tensor,
    release_layer,
    report,
)
from ..core.copy_torch import (
    MAKE_AHEAD,
    TensorBuffers,
    cast_tensor,
    has_data,
    is_contiguous,
    memory_span,
    transpose_by_blocks,
)
from .output import OutputTensor
from ..core.rows import fill_raw_tensor, row_base_paths, row_raw_path
from ..core.special import init_layer_alone

# A transposed tensor made in blocks reads this many bytes of its source's rows at a
# time (each block is transposed into a buffer first: torch transposes into contiguous
# memory 2-3x faster than into a column slab of the tensor).
SOURCE_BLOCK_BYTES = 16 * 2**20


def output_tensors(raw_model, dtype=None):
    """An OutputTensor for each entry of the raw model's state dict, in its order; with
    `dtype`, every floating-point tensor is written in that dtype."""
    entries = []
    for key, tensor in raw_model.state_dict(keep_vars=True).items():
        own = dtype_name(tensor)
        wanted = dtype if dtype is not None and own in FLOATING else own
        name = tensor.name if isinstance(getattr(tensor, "name", None), str) else ""
        entries.append(OutputTensor(key, tensor.shape, wanted, id(tensor), name))
    return entries


class InFlight:
    """Bytes of the tensors made or read that are still alive, and their peak: what a
    conversion holds beyond the imports and the weightless models."""

    def __init__(self):
        self.bytes = 0
        self.peak = 0
        self.lock = threading.Lock()

    def track(self, tensor):
        """Count `tensor` until it is freed, or until the returned function is called."""
        start, end = memory_span(tensor)
        self.add(end - start)
        return weakref.finalize(tensor, self.forget, end - start)

    def add(self, size):
        with self.lock:
            self.bytes += size
            self.peak = max(self.peak, self.bytes)

    def forget(self, size):
        with self.lock:
            self.bytes -= size


class RawTensors:
    """Makes each raw tensor of a conversion when it is asked for (see the module doc).

    `initializers` maps SPECIAL_INITS names to functions; `load_layer(layer, path,
    read)` fills a weightless base layer from the checkpoint, `materialize_layer(layer)`
    gives a weightless raw layer storage (the base and raw frameworks' own).
    """

    def __init__(
        self,
        base_model,
        raw_model,
        checkpoint,
        tensor_table,
        special_inits,
        initializers,
        load_layer,
        materialize_layer,
        threads=MAKE_AHEAD,
        build_raw=None,
    ):
        self.base_model = base_model
        self.raw_model = raw_model
        self.checkpoint = checkpoint
        self.initializers = initializers
        self.load_layer = load_layer
        self.materialize_layer = materialize_layer
        # builds the raw model with its tensors, for constants the weightless one lacks
        self.build_raw = build_raw
        self.built_state = None
        self.in_flight = InFlight()
        self.buffers = TensorBuffers()
        self.threads = threads
        # Bytes that making the largest tensor holds at the least, and holds as made
        # (set by __call__): a transpose is made whole when that holds no more than
        # the floor, and in blocks when it would.
        self.floor = 0
        self.budget = 0
        # raw tensor id -> what lets go of a checkpoint tensor handed out as it is
        self.passed = {}
        self.passed_through = 0  # tensors handed out as the checkpoint holds them
        self.made_in_blocks = 0
        self.rows = {}  # raw tensor id -> TENSOR_TABLE row
        for row in tensor_table:
            self.rows.setdefault(id(get_tensor(raw_model, row_raw_path(row))), row)
        # raw tensor id -> (SPECIAL_INITS row, name in its layer); a tensor a table row
        # writes (one the layer shares with another: an output layer tied to the
        # embedding) is the table's, as in memory
        self.units = {}
        for row in special_inits:
            layer = get_layer(raw_model, row[1])
            for name, tensor in layer.state_dict(keep_vars=True).items():
                if id(tensor) not in self.rows:
                    self.units.setdefault(id(tensor), (row, name))
        # raw tensor id -> tensor: constants (integers a model computes when built)
        # that neither a row nor an initializer writes: only the raw model keeps them
        self.constants = {
            id(tensor): tensor
            for tensor in raw_model.state_dict(keep_vars=True).values()
            if not tensor.is_floating_point()
            and id(tensor) not in self.rows
            and id(tensor) not in self.units
        }

    def own_constant(self, entry):
        """A constant only the raw model keeps (an integer tensor it computes when
        built, no row writes it): its own value, when it was built with one."""
        tensor = self.constants[entry.tensor_id]
        if not has_data(tensor) and self.build_raw is not None:
            if self.built_state is None:
                report(
                    f"note: raw `{entry.key}` is a constant the raw model computes when "
                    "it is built, and no table row writes it: building the raw model "
                    "with its tensors to read it (memory for its weights, once)"
                )
                built = self.build_raw()
                self.built_state = {
                    key: value
                    for key, value in built.state_dict(keep_vars=True).items()
                    if not value.is_floating_point()
                }
                del built
            tensor = self.built_state.get(entry.key, tensor)
        if not has_data(tensor):
            raise CheckpointError(
                f"raw `{entry.key}` is a constant the raw model computes when it is "
                "built (no table row writes it: the base model has no such tensor), and "
                "the raw model built without weights has no value for it. Nothing was "
                "written. Save the raw model's own state instead (build it, "
                "init_weights, then save), or leave the tensor out of the raw model's "
                "state (a buffer with persistent=False)"
            )
        return tensor

    def __call__(self, entries):
        """Yield (entry, tensor) for each OutputTensor of `entries`, in order. A tensor
        named by several keys (tied weights, aliases) is made once.

        While the caller writes one tensor, the next TENSOR_TABLE row is made in a
        thread (torch's copies and the file writes both let go of the GIL), unless that
        would hold more bytes at once than making the largest tensor alone does.
        """
        uses = Counter(entry.tensor_id for entry in entries)
        units_left = Counter(
            self.units[e.tensor_id][0] for e in entries if e.tensor_id in self.units
        )
        self.floor = max((self.least_to_make(entry) for entry in entries), default=0)
        budget = max((self.bytes_to_make(entry) for entry in entries), default=0)
        self.budget = budget
        ready, ahead = {}, None  # ahead: (index, future) of a row made in a thread
        pool = ThreadPoolExecutor(1, "padiff-convert") if self.threads else None
        try:
            for index, entry in enumerate(entries):
                tensor = ready.get(entry.tensor_id)
                if tensor is None and ahead is not None and ahead[0] == index:
                    tensor = ready[entry.tensor_id] = ahead[1].result()
                    ahead = None
                elif tensor is None:
                    if entry.tensor_id in self.constants:
                        ready[entry.tensor_id] = self.own_constant(entry)
                    elif entry.tensor_id in self.units:
                        ready.update(
                            self.make_layer(self.units[entry.tensor_id][0], entries)
                        )
                    else:
                        ready[entry.tensor_id] = self.make_row(entry)
                    tensor = ready[entry.tensor_id]
                uses[entry.tensor_id] -= 1
                if not uses[entry.tensor_id]:
                    del ready[entry.tensor_id]
                following = entries[index + 1] if index + 1 < len(entries) else None
                if (
                    pool is not None
                    and following is not None
                    and following.tensor_id in self.rows
                    and following.tensor_id not in ready
                    and entry.nbytes + self.bytes_to_make(following) <= budget
                ):
                    ahead = (index + 1, pool.submit(self.make_row, following))
                yield entry, tensor
                del tensor
                if not uses[entry.tensor_id] and entry.tensor_id in self.passed:
                    self.passed.pop(entry.tensor_id)()  # written: its pages let go
                if entry.tensor_id in self.units:
                    row = self.units[entry.tensor_id][0]
                    units_left[row] -= 1
                    if not units_left[row]:
                        layer = get_layer(self.raw_model, row[1])
                        self.in_flight.forget(layer_bytes(layer))
                        release_layer(layer)
        finally:
            if pool is not None:
                pool.shutdown()

    def bytes_to_make(self, entry):
        """Bytes held while `entry`'s tensor is made: what is read, and what is made
        (for rows that read a mapped file, as if it is one: see the module doc)."""
        if entry.tensor_id in self.rows and self.in_blocks(entry):
            return self.least_to_make(entry)
        return self.whole_to_make(entry)

    def least_to_make(self, entry):
        """Bytes held while `entry`'s tensor is made, made in blocks if it can be."""
        if entry.tensor_id in self.rows and self.transposes_alone(entry):
            # the made tensor, a block of the source's rows and that block's buffer
            return entry.nbytes + 2 * min(self.read_bytes(entry), SOURCE_BLOCK_BYTES)
        return self.whole_to_make(entry)

    def in_blocks(self, entry):
        """Whether `entry`'s transpose is made in blocks: when it can be, and making
        it whole would hold more than the largest tensor needs anyway."""
        return self.transposes_alone(entry) and self.whole_to_make(entry) > self.floor

    def read_bytes(self, entry):
        row = self.rows[entry.tensor_id]
        return sum(self.checkpoint.nbytes(path) for path in row_base_paths(row))

    def whole_to_make(self, entry):
        """Bytes held while `entry`'s tensor is made whole."""
        if entry.tensor_id in self.constants:
            return entry.nbytes
        if entry.tensor_id in self.rows:
            if self.passes_through(entry):
                return self.read_bytes(entry)
            return self.read_bytes(entry) + entry.nbytes
        row = self.units[entry.tensor_id][0]
        prefix = f"{row[0]}." if row[0] else ""
        read = sum(
            self.checkpoint.nbytes(key)
            for key in self.checkpoint.keys
            if key.startswith(prefix)
        )
        made = 0
        for tensor in (
            get_layer(self.raw_model, row[1]).state_dict(keep_vars=True).values()
        ):
            count = 1
            for size in tensor.shape:
                count *= int(size)
            made += count * ELEMENT_SIZES.get(dtype_name(tensor), 4)
        return read + made

    def single_source(self, entry, transform):
        """The base path of `entry`'s row if it reads one stored tensor whole through
        `transform`, else None."""
        base_path, _, row_transform, _, _ = self.rows[entry.tensor_id]
        if row_transform != transform or isinstance(base_path, tuple):
            return None
        if base_path in self.checkpoint.assembled:
            return None
        return base_path

    def passes_through(self, entry):
        """Whether `entry`'s row copies a stored tensor as it is, in its own dtype."""
        path = self.single_source(entry, "copy")
        return path is not None and self.checkpoint.dtype(path) == entry.dtype

    def transposes_alone(self, entry):
        """Whether `entry`'s row transposes one stored 2-D tensor."""
        path = self.single_source(entry, "transpose")
        return path is not None and len(entry.shape) == 2

    def make_row(self, entry):
        """The tensor of a TENSOR_TABLE row: a fresh one filled from the checkpoint as
        the row says, or the checkpoint's own (see the module doc)."""
        if self.passes_through(entry):
            source = self.checkpoint.read(self.single_source(entry, "copy"))
            span = memory_span(source)
            if is_contiguous(source) and file_mapped(self.checkpoint.last_file, span):
                return self.pass_through(entry, source, span)
            return self.fill(entry, lambda path: source)
        if self.in_blocks(entry):
            return self.transpose_in_blocks(entry)
        return self.fill(entry, self.checkpoint.read)

    def pass_through(self, entry, source, span):
        """Hand out a tensor mapped from the checkpoint file as it is; its pages are let
        go once it has been written."""
        if self.buffers.spare_nbytes() + span[1] - span[0] > self.budget:
            self.buffers.drop()
        self.in_flight.add(span[1] - span[0])
        path = self.checkpoint.last_file

        def written():
            release_file_pages(path, span)
            self.in_flight.forget(span[1] - span[0])

        self.passed[entry.tensor_id] = written
        self.passed_through += 1
        return source

    def fill(self, entry, read_base):
        """A fresh tensor filled by fill_raw_tensor."""
        tensor = self.buffers.empty(entry.shape, entry.dtype)
        self.in_flight.track(tensor)
        reads = []

        def read(path):
            source = read_base(path)
            reads.append(self.in_flight.track(source))
            return source

        fill_raw_tensor(tensor, self.rows[entry.tensor_id], read)
        self.checkpoint.let_go()
        for done in reads:  # read from a mapped file: its pages are dropped now
            done()
        return tensor

    def transpose_in_blocks(self, entry):
        """A fresh tensor, the transpose of one stored 2-D tensor, made from blocks of
        its rows; when the file is mapped, each block's pages are let go once copied, so
        only the made tensor and one block (and its buffer) are held."""
        self.made_in_blocks += 1
        tensor = self.buffers.empty(entry.shape, entry.dtype)
        self.in_flight.track(tensor)
        source = self.checkpoint.read(self.single_source(entry, "transpose"))
        path = self.checkpoint.last_file
        span = memory_span(source)
        rows = entry.shape[1]
        step = max(1, SOURCE_BLOCK_BYTES * rows // max(1, span[1] - span[0]))
        block_bytes = -(-(span[1] - span[0]) * min(step, rows) // rows)
        mapped = file_mapped(path, span)
        # held: a block's pages and its buffer, or (in memory of its own, not mapped)
        # the whole source until made, and a buffer
        held = 2 * block_bytes if mapped else span[1] - span[0] + block_bytes
        self.in_flight.add(held)

        def copied(block):
            if mapped:
                release_file_pages(path, memory_span(block))

        try:
            transpose_by_blocks(tensor, source, step, copied)
        finally:
            self.in_flight.forget(held)
        del source
        self.checkpoint.let_go()
        return tensor

    def make_layer(self, row, entries):
        """The tensors of a raw layer copied by a special initializer, by the ids the
        entries know them by, each in its entry's dtype."""
        base_path, raw_path, name = row
        base_layer = get_layer(self.base_model, base_path)
        raw_layer = get_layer(self.raw_model, raw_path)
        self.buffers.drop()
        self.load_layer(base_layer, base_path, self.checkpoint.tensor)
        self.materialize_layer(raw_layer)
        read = layer_bytes(base_layer)
        self.in_flight.add(read + layer_bytes(raw_layer))
        prefix = f"{raw_path}." if raw_path else ""
        required = {n for unit, n in self.units.values() if unit == row}
        try:
            tensors = init_layer_alone(
                row, self.initializers[name], base_layer, raw_layer, prefix, required
            )
        finally:
            release_layer(base_layer)
            self.checkpoint.let_go()
            self.in_flight.forget(read)
        dtypes = {entry.tensor_id: entry.dtype for entry in entries}
        made = {}
        for tensor_id, (unit, name) in self.units.items():
            if unit == row and tensor_id in dtypes:
                made[tensor_id] = cast_tensor(tensors[name], dtypes[tensor_id])
        return made


def layer_bytes(layer):
    """Bytes of a layer's tensors (those with storage)."""
    total = 0
    for tensor in layer.state_dict(keep_vars=True).values():
        start, end = memory_span(tensor)
        total += end - start
    return total


def model_tensors(raw_model, entries):
    """(entry, tensor) for each of `entries` from a raw model that holds its weights."""
    state = raw_model.state_dict(keep_vars=True)
    for entry in entries:
        yield entry, cast_tensor(state[entry.key], entry.dtype)
