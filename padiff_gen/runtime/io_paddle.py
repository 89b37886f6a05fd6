"""Reading and writing paddle checkpoints."""

import os

import paddle

from .common import CheckpointError, atomic_save, first_line


def load_checkpoint(model, path):
    """Load a paddle state dict (.pdparams) into `model`; every key must fit."""
    if not os.path.isfile(path):
        raise CheckpointError(f"the checkpoint {path} does not exist")
    try:
        state = paddle.load(path)
    except Exception as error:
        raise CheckpointError(
            f"cannot read {path} as a paddle checkpoint ({type(error).__name__}: "
            f"{first_line(error)}); "
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
    # paddle skips a tensor of the wrong shape with only a warning: refuse instead.
    current = model.state_dict()
    resized = [
        f"{key} is {list(state[key].shape)}, the model's is {list(current[key].shape)}"
        for key in sorted(expected)
        if tuple(state[key].shape) != tuple(current[key].shape)
    ]
    if resized:
        raise CheckpointError(
            f"{path} does not fit the base model: {'; '.join(resized[:5])}"
        )
    model.set_state_dict(state)


def save_state(model, path):
    atomic_save(paddle.save, model.state_dict(), path)
