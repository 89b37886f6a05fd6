"""The smallest stand-in for `paddlefleet`, which PaddleFormers 1.2.0 imports but PyPI lacks.

PaddleFormers' qwen2, qwen3, qwen2_moe, qwen3_moe and glm4_moe modeling modules import
`paddleformers.transformers.gpt_provider` at top level, and that module raises ImportError
without `paddlefleet` (it builds the fleet `GPTModel` that their `*ForCausalLM` factories
return). The dygraph classes (`*ForCausalLMDeprecated`) only subclass `GPTModelProvider` in a
dataclass they never instantiate, so a placeholder class is all they need. deepseek_v3,
qwen3_moe and qwen3_next import `paddleformers.transformers.fused_a2a` (through the MoE token
dispatcher), which asks `paddlefleet_ops.is_deep_ep_available()`: the answer is False, as on
a machine without DeepEP.

`install()` must run before any PaddleFormers modeling module is imported. Using a fleet
model (anything that calls `GPTModelProvider.provide`) raises a clear error.
"""

import sys
import types

GPT_PROVIDER = "paddleformers.transformers.gpt_provider"


class GPTModelProvider:
    """Placeholder base class of PaddleFormers' fleet model providers."""

    transform_rules = {}  # glm4_moe's provider extends its parent's table

    @classmethod
    def from_config(cls, config):
        raise RuntimeError(
            f"{cls.__name__} builds a paddlefleet model, which is not installed here "
            "(tests_llm/fleet_stub.py); use the *ForCausalLMDeprecated dygraph class."
        )


def install() -> None:
    """Put the stand-ins into sys.modules (idempotent)."""
    if GPT_PROVIDER not in sys.modules:
        provider = types.ModuleType(GPT_PROVIDER)
        provider.GPTModelProvider = GPTModelProvider
        provider.__doc__ = (
            "Stand-in from tests_llm/fleet_stub.py (paddlefleet missing)."
        )
        sys.modules[GPT_PROVIDER] = provider
    if "paddlefleet_ops" not in sys.modules:
        ops = types.ModuleType("paddlefleet_ops")
        ops.is_deep_ep_available = lambda: False
        ops.__doc__ = "Stand-in from tests_llm/fleet_stub.py: no DeepEP."
        sys.modules["paddlefleet_ops"] = ops
