"""What an initializer author needs, in one import: ``from padiff_gen.init_api import ...``.

An *initializer* copies the weights of one base sub-layer into the matching raw sub-layer,
for layers that the table of tensor copies cannot pair (a fused projection on one side,
split ones on the other, say). It is a plain top-level function::

    @register("torch", "FusedQKV", "paddle", "SplitQKV")
    def init_fused_qkv(base_model, raw_model):
        ...

- ``base_model`` and ``raw_model`` are the two *sub-layers* (a ``FusedQKV`` instance and
  a ``SplitQKV`` instance), not the whole models; the names are PaDiff's.
- Copy from base into raw, never the other way. :func:`copy_weight` takes keywords
  (``src=`` base tensor, ``dst=`` raw tensor); the older :func:`copy_tensor` takes the
  destination first: ``copy_tensor(dst, src)``, the reverse of ``init_weights(base, raw)``.
- padiff-gen copies the function's source into every generated script, with the helpers,
  constants and imports it uses (and these functions), so it must be a top-level ``def``
  in an importable module (no lambda, closure or ``__main__``). The registration
  decorator is left out of the script.

These helpers run through torch: a paddle tensor is viewed as a torch tensor that shares
its memory (DLPack), so they serve every pair with torch on one side, in both directions.
A paddle -> paddle initializer that must not need torch imports ``copy_tensor`` and
``fill_tensor`` from ``padiff_gen.runtime.core.copy_paddle`` instead (same signatures; the
transforms ``"copy"`` and ``"transpose"``).

The guide, with a worked example: docs/writing_initializers.md.
"""

from __future__ import annotations

import math

from .runtime.core.copy_torch import as_torch, copy_tensor, fill_tensor
from .special_init.special_init_pool import (
    SettingDifference,
    add_special_init,
    global_special_init_pool,
)

__all__ = [
    "SettingDifference",
    "add_special_init",
    "as_torch",
    "copy_tensor",
    "copy_weight",
    "fill_tensor",
    "register",
]


def register(base_framework, base_class, raw_framework, raw_class, *, validate=None):
    """Decorator: the function is the initializer for one pair of classes.

    Frameworks are ``"torch"`` or ``"paddle"``, classes are class names (``type(layer)
    .__name__``). Every sub-layer of a registered class is then copied by the function
    (the auto layer map), called as ``func(base_layer, raw_layer)``. A later registration
    for the same pair replaces an earlier one, built-ins included. Register each direction
    you need (torch -> paddle and paddle -> torch are two pairs).

    ``validate(base_layer, raw_layer)`` runs when the script is made, on the real layers:
    return None when the pair can be copied, a sentence saying why not (``emit`` then
    refuses, naming both paths), or a :class:`SettingDifference` when the weights copy
    exactly but a setting that is not a weight differs (``emit`` goes on with a note and
    marks the pair in the script's table). It is not copied into the script.

    The same as ``global_special_init_pool.register`` (PaDiff's name).
    """
    return global_special_init_pool.register(
        base_framework, base_class, raw_framework, raw_class, validate=validate
    )


def copy_weight(*, src, dst, transform="copy"):
    """Copy the base tensor ``src`` into the raw tensor ``dst``, in place.

    Either tensor may be torch or paddle (a parameter, a buffer, or a view such as
    ``as_torch(weight).chunk(3)[0]``). ``dst`` keeps its dtype and device. ``transform``:

    - ``"copy"``: the shapes must be equal;
    - ``"transpose"``: ``src`` is 2-D and ``dst`` has the transposed shape (a torch Linear
      weight is [out, in], a paddle one [in, out]);
    - ``"reshape"``: the same number of elements in another shape.

    Raises ValueError when the shapes do not fit the transform, or when ``dst`` has no
    storage (a model built without weights).
    """
    given = [int(d) for d in src.shape]
    wanted = [int(d) for d in dst.shape]
    if transform == "transpose":
        fits = len(given) == 2 and given[::-1] == wanted
    elif transform == "reshape":
        fits = math.prod(given) == math.prod(wanted)
    else:
        fits = given == wanted
    if not fits:
        raise ValueError(
            f"cannot copy a {given} tensor into a {wanted} one with transform="
            f"{transform!r}"
        )
    copy_tensor(dst, src, transform)
