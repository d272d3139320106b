"""Staged model rollout: per-agent model orders, canary choice, the quality gate, the
controller that moves rollouts on, the publisher of signed packages, the model duty."""
