"""Reading and writing paddle checkpoints."""

import os

import paddle

from .common import CheckpointError, atomic_save


def load_checkpoint(model, path):
    """Load a paddle state dict (.pdparams) into `model`; every key must fit."""
    if not os.path.isfile(path):
        raise CheckpointError(f"the checkpoint {path} does not exist")
    try:
        state = paddle.load(path)
    except Exception as error:
        raise CheckpointError(
            f"cannot read {path} as a paddle checkpoint ({type(error).__name__}: {error}); "
            "is it truncated, or in another format?"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path} holds a {type(state).__name__}, not a state dict"
        )
    expected = set(model.state_dict())
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not fit the base model: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    model.set_state_dict(state)


def save_state(model, path):
    atomic_save(paddle.save, model.state_dict(), path)
