"""Scorers of the agent: threshold rules (low tier) and ONNX models (medium/high tier)."""
