"""Reading and writing torch checkpoints."""

import os

import torch

from .common import CheckpointError, atomic_save, first_line


def load_checkpoint(model, path):
    """Load a torch state dict (.pt/.pth/.bin) into `model`; every key must fit."""
    if not os.path.isfile(path):
        raise CheckpointError(f"the checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"cannot read {path} as a torch checkpoint ({type(error).__name__}: "
            f"{first_line(error)}); "
            "is it truncated, or in another format?"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path} holds a {type(state).__name__}, not a state dict"
        )
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shapes differ: torch lists them after a header line
        details = "; ".join(line.strip() for line in str(error).splitlines()[1:4])
        raise CheckpointError(
            f"{path} does not fit the base model: {details}"
        ) from None
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{path} does not fit the base model: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )


def save_state(model, path):
    atomic_save(torch.save, model.state_dict(), path)
