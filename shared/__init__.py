"""Code both sides import: message schemas, topics, codec, readings, features, model format."""

__version__ = "0.1.0"
