"""Reinforcement-learning core: environments, replay, agents, schedules and the training loop."""
