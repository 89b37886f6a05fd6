"""torch Shift adds `shift`; paddle Offset subtracts `offset`, so offset = -shift."""


def init_shift_to_offset(base_model, raw_model):
    raw_model.offset.set_value(-base_model.shift.detach().cpu().numpy())


def register(pool):
    pool.add("torch", "Shift", "paddle", "Offset", init_shift_to_offset)
