"""Reading Hugging Face model folders: what a model is, without loading it."""

from sdk_gen.model.inspect import inspect_model
from sdk_gen.model.spec import ModelSpec, ParamBreakdown

__all__ = ["ModelSpec", "ParamBreakdown", "inspect_model"]
