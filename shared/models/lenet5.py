"""LeNet-5 as described in LeCun, Bottou, Bengio & Haffner (1998), Sec. II-B.

Layers follow the paper: 32x32 input, C1 6@5x5, S2 trainable subsampling, C3 16@5x5 with the partial
connection table (Table I), S4, C5 120@5x5, F6 84, all squashed by the scaled tanh f(a) = 1.7159 tanh(2a/3).
The paper's output layer is 10 Euclidean RBF units whose parameters are fixed +-1 bitmaps (7x12 stylised
digits, Fig. 3), trained with the MAP criterion of Eq. 9; `output="rbf"` builds that (`RBFOutput`, `map_loss`), with
bitmaps drawn for this suite because the paper gives its own only as a picture. `output="softmax"` ends in a
trainable softmax instead. `PAPER_TRAINABLE_PARAMS` counts C1..F6 in both cases.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

# LeCun et al. 1998, Sec. II-B: "LeNet-5 ... has 60,000 trainable parameters" (C1 156, S2 12, C3 1,516, S4 32,
# C5 48,120, F6 10,164; the RBF output's 840 parameters are fixed by hand and not trained).
PAPER_TRAINABLE_PARAMS = 60_000

# Table I of the paper: which S2 feature maps (rows) feed each C3 feature map (columns).
C3_CONNECTIONS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (4, 5, 0),
    (5, 0, 1),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (3, 4, 5, 0),
    (4, 5, 0, 1),
    (5, 0, 1, 2),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

# Stylised 7-wide, 12-high digit bitmaps ("#" = +1, "." = -1) for the RBF output units. The paper's Fig. 3 shows
# its own as a picture only; these were drawn for this suite in the same spirit (digit centred, one-pixel border
# rows, strokes two pixels wide), so the codes differ from the paper's in detail.
DIGIT_BITMAPS: tuple[str, ...] = (
    """
.......
..###..
.##.##.
##...##
##...##
##...##
##...##
##...##
##...##
.##.##.
..###..
.......""",
    """
.......
...##..
..###..
.####..
...##..
...##..
...##..
...##..
...##..
...##..
.######
.......""",
    """
.......
.#####.
##...##
.....##
....##.
...##..
..##...
.##....
##.....
##.....
#######
.......""",
    """
.......
#######
.....##
....##.
...##..
..####.
.....##
.....##
.....##
##...##
.#####.
.......""",
    """
.......
....##.
...###.
..####.
.##.##.
##..##.
#######
....##.
....##.
....##.
....##.
.......""",
    """
.......
#######
##.....
##.....
######.
.....##
.....##
.....##
.....##
##...##
.#####.
.......""",
    """
.......
...###.
..##...
.##....
##.....
######.
##...##
##...##
##...##
##...##
.#####.
.......""",
    """
.......
#######
.....##
....##.
....##.
...##..
...##..
..##...
..##...
..##...
..##...
.......""",
    """
.......
.#####.
##...##
##...##
##...##
.#####.
##...##
##...##
##...##
##...##
.#####.
.......""",
    """
.......
.#####.
##...##
##...##
##...##
##...##
.######
.....##
....##.
...##..
.###...
.......""",
)


def rbf_codes() -> np.ndarray:
    """(10, 84) float32 array of +-1: row d is digit d's bitmap read row by row (7 x 12 = F6's 84 units)."""
    rows = []
    for bitmap in DIGIT_BITMAPS:
        lines = bitmap.strip().splitlines()
        if len(lines) != 12 or any(len(line) != 7 or set(line) - {"#", "."} for line in lines):
            raise ValueError("each digit bitmap must be 12 lines of 7 characters from '#.'")
        rows.append([1.0 if c == "#" else -1.0 for c in "".join(lines)])
    return np.asarray(rows, dtype="float32")


SCALED_TANH_A = 1.7159
SCALED_TANH_S = 2.0 / 3.0


def scaled_tanh(x):
    """The paper's squashing function f(a) = A tanh(S a), A = 1.7159, S = 2/3 (Appendix A)."""
    return SCALED_TANH_A * ops.tanh(SCALED_TANH_S * x)


@keras.saving.register_keras_serializable(package="replicate")
class FanInUniform(keras.initializers.Initializer):
    """Uniform in [-2.4/F, 2.4/F] with F the fan-in of the unit (the paper's Appendix A initialisation)."""

    def __init__(self, scale: float = 2.4, fan_in: int | None = None, seed=None):
        self.scale = scale
        self.fan_in = fan_in
        self.seed = seed if seed is not None else keras.random.SeedGenerator()

    def __call__(self, shape, dtype=None):
        fan_in = self.fan_in if self.fan_in is not None else int(np.prod(shape[:-1]))
        limit = self.scale / fan_in
        return keras.random.uniform(shape, -limit, limit, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"scale": self.scale, "fan_in": self.fan_in}


@keras.saving.register_keras_serializable(package="replicate")
class TrainableSubsampling(layers.Layer):
    """S2/S4: sum of each 2x2 block times a trainable per-map coefficient plus a per-map bias (2 params/map)."""

    def __init__(self, pool_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = pool_size
        self.pool = layers.AveragePooling2D(pool_size)

    def build(self, input_shape):
        channels = input_shape[-1]
        fan_in = self.pool_size * self.pool_size
        self.coefficient = self.add_weight(
            shape=(channels,), initializer=FanInUniform(fan_in=fan_in), name="coefficient"
        )
        self.bias = self.add_weight(shape=(channels,), initializer="zeros", name="bias")

    def call(self, x):
        block_sum = self.pool(x) * float(self.pool_size * self.pool_size)
        return block_sum * self.coefficient + self.bias

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, h // self.pool_size, w // self.pool_size, c)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


@keras.saving.register_keras_serializable(package="replicate")
class PartiallyConnectedConv2D(layers.Layer):
    """A valid convolution where output map j sees only the input maps in `connections[j]`.

    Only the connected 5x5 kernels are weights (60 of them for Table I, so 1,500 + 16 biases = 1,516 parameters);
    a constant 0/1 selection tensor scatters them into a dense kernel so the convolution itself is one op.
    """

    def __init__(self, connections, kernel_size: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.connections = tuple(tuple(int(i) for i in c) for c in connections)
        self.kernel_size = kernel_size

    def build(self, input_shape):
        in_maps = input_shape[-1]
        out_maps = len(self.connections)
        pairs = [(i, j) for j, inputs in enumerate(self.connections) for i in inputs]
        if any(i >= in_maps for i, _ in pairs):
            raise ValueError(f"connection table refers to input map >= {in_maps}")
        selection = np.zeros((len(pairs), in_maps, out_maps), dtype="float32")
        fan_in = np.zeros(len(pairs), dtype="float32")
        for n, (i, j) in enumerate(pairs):
            selection[n, i, j] = 1.0
            fan_in[n] = len(self.connections[j]) * self.kernel_size**2
        self.selection = selection
        # Each kernel is initialised with its own output unit's fan-in (3, 4 or 6 maps x 25 taps).
        limits = 2.4 / fan_in

        def init(shape, dtype=None):
            unit = keras.random.uniform(shape, -1.0, 1.0, dtype=dtype, seed=keras.random.SeedGenerator())
            return unit * ops.convert_to_tensor(limits, dtype=dtype)

        k = self.kernel_size
        self.kernel = self.add_weight(shape=(k, k, len(pairs)), initializer=init, name="kernel")
        self.bias = self.add_weight(shape=(out_maps,), initializer="zeros", name="bias")

    def call(self, x):
        selection = ops.convert_to_tensor(self.selection, dtype=self.kernel.dtype)
        dense_kernel = ops.einsum("hwn,nio->hwio", self.kernel, selection)
        return ops.conv(x, dense_kernel, strides=1, padding="valid") + self.bias

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        k = self.kernel_size
        return (b, h - k + 1, w - k + 1, len(self.connections))

    def get_config(self):
        return {**super().get_config(), "connections": self.connections, "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package="replicate")
class RBFOutput(layers.Layer):
    """Euclidean RBF units with fixed centres (Eq. 7): outputs the negated penalties -y_i = -sum_j (x_j - w_ij)^2.

    Negated so that the largest output is the predicted class, as with any classifier here; no trainable weights.
    """

    def __init__(self, codes=None, **kwargs):
        super().__init__(**kwargs)
        self.codes = np.asarray(rbf_codes() if codes is None else codes, dtype="float32")

    def call(self, x):
        centres = ops.convert_to_tensor(self.codes, dtype=x.dtype)
        diff = ops.expand_dims(x, 1) - ops.expand_dims(centres, 0)  # (batch, classes, units)
        return -ops.sum(diff * diff, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.codes.shape[0])

    def get_config(self):
        return {**super().get_config(), "codes": self.codes.tolist()}


@keras.saving.register_keras_serializable(package="replicate")
class MAPLoss(keras.losses.Loss):
    """The paper's Eq. 9 per example: y_D + log(exp(-j) + sum_i exp(-y_i)), from the negated penalties s = -y.

    That is the cross-entropy of the correct class among the logits [s_0 .. s_9, -j]: an 11th "rubbish" class with
    constant penalty j, so besides pulling the correct penalty down the criterion pushes the others up only while
    they are below about j.
    """

    def __init__(self, j: float, name: str = "map_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.j = float(j)

    def call(self, y_true, y_pred):
        rubbish = ops.full_like(y_pred[:, :1], -self.j)
        logits = ops.concatenate([y_pred, rubbish], axis=-1)
        return keras.losses.sparse_categorical_crossentropy(y_true, logits, from_logits=True)

    def get_config(self):
        return {**super().get_config(), "j": self.j}


def _conv(filters: int, fan_in: int, name: str) -> layers.Conv2D:
    return layers.Conv2D(filters, 5, padding="valid", kernel_initializer=FanInUniform(fan_in=fan_in), name=name)


def build_lenet5(num_classes: int = 10, input_size: int = 32, output: str = "softmax") -> keras.Model:
    """LeNet-5 on (input_size x input_size x 1) images.

    output="softmax": a trainable dense layer with softmax class probabilities (train with cross-entropy).
    output="rbf": the paper's fixed RBF units, negated penalties per class (train with `MAPLoss`; 10 classes only).
    """
    if output not in ("softmax", "rbf"):
        raise ValueError(f"unknown output layer {output!r}: use 'softmax' or 'rbf'")
    if output == "rbf" and num_classes != 10:
        raise ValueError("the RBF output has one bitmap per digit: num_classes must be 10")
    inputs = keras.Input((input_size, input_size, 1), name="image")
    x = _conv(6, 25, "C1")(inputs)
    x = layers.Activation(scaled_tanh, name="C1_tanh")(x)  # every unit up to F6 is squashed (Sec. II-A)
    x = TrainableSubsampling(name="S2")(x)
    x = layers.Activation(scaled_tanh, name="S2_tanh")(x)
    x = PartiallyConnectedConv2D(C3_CONNECTIONS, name="C3")(x)
    x = layers.Activation(scaled_tanh, name="C3_tanh")(x)
    x = TrainableSubsampling(name="S4")(x)
    x = layers.Activation(scaled_tanh, name="S4_tanh")(x)
    x = _conv(120, 16 * 25, "C5")(x)
    x = layers.Activation(scaled_tanh, name="C5_tanh")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(84, kernel_initializer=FanInUniform(), name="F6")(x)
    x = layers.Activation(scaled_tanh, name="F6_tanh")(x)
    if output == "rbf":
        outputs = RBFOutput(name="output")(x)
    else:
        outputs = layers.Dense(
            num_classes, activation="softmax", kernel_initializer=FanInUniform(), dtype="float32", name="output"
        )(x)  # float32 softmax under a mixed policy (Keras's guidance); no-op in float32
    return keras.Model(inputs, outputs, name="lenet5")


def paper_layers_trainable_params(model: keras.Model) -> int:
    """Trainable parameters of C1..F6, the layers the paper counts (its RBF output layer is not trained)."""
    return sum(
        int(np.prod(w.shape)) for layer in model.layers if layer.name != "output" for w in layer.trainable_weights
    )
