"""RL agents built on Keras 3 (backend-agnostic: the update steps are compiled by Keras itself)."""
