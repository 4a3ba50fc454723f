"""sdkgen: turn a fine-tuned Hugging Face LLM into a ready-to-build mobile SDK."""

__version__ = "0.1.0"
