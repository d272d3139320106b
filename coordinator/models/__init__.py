"""Model training on the coordinator: features -> StandardScaler + IsolationForest -> ONNX.

``trainer`` fits a sensor type's model from readings, a CSV file or a matrix; ``forest``
flattens it into tree-ensemble arrays; ``export`` writes the compact ONNX model file the
agent scores with (``agent.scorers.onnx``). See ``docs/models.md``.
"""
