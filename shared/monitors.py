"""What to look at inside a network while it trains: one unit's input distribution, per-layer statistics."""

from __future__ import annotations

import keras
import numpy as np


def layer_probe(model: keras.Model, layer_names: list[str]) -> keras.Model:
    """A model sharing `model`'s weights that returns the named layers' outputs (build once, call often)."""
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    outputs = [model.get_layer(n).output for n in layer_names]
    return keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs)


def unit_percentiles(
    probe: keras.Model, x: np.ndarray, unit: int, percentiles=(15, 50, 85), prefix: str = "unit"
) -> dict[str, float]:
    """Percentiles over the examples in x of one unit of a single-output probe, as {"<prefix>/p15": ...}.

    Ioffe & Szegedy's Fig. 1(b, c): the 15th/50th/85th percentiles of the input to one sigmoid of the last hidden
    layer (with batch normalization, the BN output). Inference mode: BN uses its moving statistics.
    """
    values = np.asarray(probe(x, training=False))[:, unit]
    found = np.percentile(values, percentiles)
    return {f"{prefix}/p{p}": float(v) for p, v in zip(percentiles, found, strict=True)}


def output_variances(probe: keras.Model, x: np.ndarray) -> list[float]:
    """Variance over examples and units of each output of a probe for the batch x (inference mode)."""
    outputs = probe(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [float(np.var(np.asarray(o, dtype="float64"))) for o in outputs]
