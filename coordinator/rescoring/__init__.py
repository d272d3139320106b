"""Cloud re-scoring: the coordinator judges a sample of what arrives (and everything from
agents without a model) with its own models, beside the edge's verdict."""
