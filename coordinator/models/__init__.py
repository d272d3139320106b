"""Model training on the coordinator: features -> StandardScaler + IsolationForest -> ONNX.

``trainer`` fits a sensor type's model from readings, a CSV file (read by
``shared.csvfile``, as CSV replay reads it) or a matrix; ``forest`` flattens it into
tree-ensemble arrays; ``export`` writes the compact ONNX model file the agent scores with
(``shared.runtime.OnnxScorer``); ``cli`` is ``edgewatch train``. See ``docs/models.md``.
"""
