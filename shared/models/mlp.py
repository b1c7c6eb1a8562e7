"""Fully connected classifiers with the options the training-technique papers vary: dropout on inputs and hidden
units (Srivastava et al. 2014), max-norm on incoming weight vectors, batch normalization before each nonlinearity
(Ioffe & Szegedy 2015), and the weight initialisation (Glorot & Bengio 2010, He et al. 2015, plain Gaussians)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers


@dataclass(frozen=True)
class MLPSpec:
    """One fully connected network: hidden widths, nonlinearity and the regularisers in front of each layer."""

    hidden: tuple[int, ...]
    activation: str = "relu"  # any Keras activation name: relu, sigmoid, tanh, ...
    initializer: str = "glorot_uniform"  # a Keras initializer name, or "gaussian:<std>"
    dropout_input: float = 0.0  # probability of DROPPING an input unit (the paper's p(retain) = 1 - this)
    dropout_hidden: float = 0.0
    max_norm: float | None = None  # bound on the L2 norm of each unit's incoming weight vector
    batchnorm: bool = False  # normalise each pre-activation over the mini-batch, before the nonlinearity


def initializer(name: str) -> keras.initializers.Initializer:
    """A Keras initializer from a name; "gaussian:<std>" is N(0, std^2) (Ioffe & Szegedy's baseline)."""
    if name.startswith("gaussian:"):
        return keras.initializers.RandomNormal(stddev=float(name.split(":", 1)[1]))
    return keras.initializers.get(name)


def build_mlp(input_dim: int, num_classes: int, spec: MLPSpec, name: str = "mlp") -> keras.Model:
    """Dense layers with the spec's options, then a softmax output. Hidden layers are named hidden_1..N; with
    batchnorm their normalised pre-activations are the outputs of layers bn_1..N, otherwise of hidden_1..N."""
    constraint = keras.constraints.MaxNorm(spec.max_norm, axis=0) if spec.max_norm else None
    inputs = keras.Input((input_dim,), name="inputs")
    x = layers.Dropout(spec.dropout_input, name="dropout_input")(inputs) if spec.dropout_input else inputs
    for i, width in enumerate(spec.hidden, start=1):
        x = layers.Dense(
            width,
            use_bias=not spec.batchnorm,  # BN's beta replaces the bias
            kernel_initializer=initializer(spec.initializer),
            kernel_constraint=constraint,
            name=f"hidden_{i}",
        )(x)
        if spec.batchnorm:
            x = layers.BatchNormalization(name=f"bn_{i}")(x)
        x = layers.Activation(spec.activation, name=f"act_{i}")(x)
        if spec.dropout_hidden:
            x = layers.Dropout(spec.dropout_hidden, name=f"dropout_{i}")(x)
    outputs = layers.Dense(
        num_classes,
        activation="softmax",
        kernel_initializer=initializer(spec.initializer),
        kernel_constraint=constraint,
        dtype="float32",  # softmax and loss in float32 under a mixed policy (Keras's guidance); no-op in float32
        name="output",
    )(x)
    return keras.Model(inputs, outputs, name=name)
