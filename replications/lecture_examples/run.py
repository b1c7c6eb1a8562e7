"""The course notes' worked examples and constructions, computed through Keras layers, keras.ops and the backend's
autodiff (../shared/sources/course-notes.md; each examples_*.py module names the slides it follows).

Each example returns flat metrics that claim.yaml checks against the notes' numbers. Independent NumPy computations
(the delta recursion, the sliding window, Adam's equations, the closed forms) are second derivations to compare with,
not the source of the checked values. Two kinds of random draw:
- the inputs of identities (backprop, autodiff against formulas, convolution, softmax, the chain rule, ...) come from
  `example_seed` alone: such a check holds for any input, its metrics are identical across run seeds, and the
  engine applies its rule exactly;
- Monte-Carlo estimates (dropout's kept fraction, random products, depth slopes, initialisation gains, TD on random
  walks) come from `example_seed` and the run seed together, so
  each seed is an independent draw and a statistical statement is judged over seeds, with an interval, like any
  experiment (DESIGN.md: the seed is the unit of evidence). Until 2026-12-05 these too came from `example_seed` alone,
  so three seeds repeated one draw and the engine judged it as exact.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from replicate_suite.runner import RunContext


def _sibling(name: str) -> ModuleType:
    """Import replications/lecture_examples/<name>.py: the runner imports run.py by path, so its siblings are not on
    sys.path; they are registered under a name of their own, as the runner registers run.py."""
    full = f"replications_lecture_examples_{name}"
    if full not in sys.modules:
        spec = importlib.util.spec_from_file_location(full, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
    return sys.modules[full]


networks = _sibling("examples_networks")
losses = _sibling("examples_losses")
image_layers = _sibling("examples_layers")
optim = _sibling("examples_optim")
approximation = _sibling("examples_approximation")
depth = _sibling("examples_depth")
rl = _sibling("examples_rl")

PerceptronConfig = networks.PerceptronConfig
NeuronConfig = networks.NeuronConfig
BackpropConfig = networks.BackpropConfig
GradientRemarksConfig = networks.GradientRemarksConfig
SoftmaxConfig = losses.SoftmaxConfig
GradingConfig = losses.GradingConfig
ImageConfig = image_layers.ImageConfig
RegularisationConfig = image_layers.RegularisationConfig
MomentumConfig = optim.MomentumConfig
AdamConfig = optim.AdamConfig
ApproximationConfig = approximation.ApproximationConfig
ProductsConfig = depth.ProductsConfig
DepthConfig = depth.DepthConfig
InitConfig = depth.InitConfig
TDConfig = rl.TDConfig
ChainRuleConfig = rl.ChainRuleConfig
# Used by the tests as the replication's own functions.
backprop_by_hand = networks.backprop_by_hand
sliding_window = image_layers.sliding_window


@dataclass(frozen=True)
class Config:
    example_seed: int
    """Seed of the identities' inputs (alone) and of the Monte-Carlo draws (with the run seed; module docstring)."""
    perceptron: PerceptronConfig
    neuron: NeuronConfig
    backprop: BackpropConfig
    gradient_remarks: GradientRemarksConfig
    softmax: SoftmaxConfig
    grading: GradingConfig
    images: ImageConfig
    regularisation: RegularisationConfig
    momentum: MomentumConfig
    adam: AdamConfig
    approximation: ApproximationConfig
    products: ProductsConfig
    depth: DepthConfig
    sigmoid_grid: list[float]
    """[low, high, points] where sigma'(z) is evaluated (the grid contains 0)."""
    init: InitConfig
    td: TDConfig
    chain_rule: ChainRuleConfig


def run(cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    """Every example in the notes' order; `seed` (the run seed) enters the Monte-Carlo examples' draws only (see the
    module docstring)."""

    def rng(stream: int) -> np.random.Generator:  # one stream per example: none depends on another's draws
        return np.random.default_rng([cfg.example_seed, stream])

    def mc_rng(stream: int) -> np.random.Generator:  # a Monte-Carlo example's stream: also keyed by the run seed
        return np.random.default_rng([cfg.example_seed, seed, stream])

    s = cfg.example_seed
    mc = int(np.random.SeedSequence([cfg.example_seed, seed]).generate_state(1)[0] % 2**31)  # their Keras seeds
    return {
        **networks.perceptron_examples(cfg.perceptron),
        **networks.neuron_gradient_examples(cfg.neuron),
        **networks.backprop_example(cfg.backprop),
        **networks.gradient_remarks(cfg.gradient_remarks, rng(1), s),
        **losses.softmax_examples(cfg.softmax, rng(2)),
        **losses.grading_examples(cfg.grading),
        **optim.momentum_example(cfg.momentum),
        **optim.adam_example(cfg.adam),
        **image_layers.regularisation_examples(cfg.regularisation, rng(3), mc),
        **approximation.indicator_examples(cfg.approximation, ctx),
        **approximation.square_examples(cfg.approximation, ctx),
        **approximation.box_examples(cfg.approximation, ctx),
        **depth.product_examples(cfg.products, mc),
        **depth.depth_examples(cfg.depth, mc_rng(4), mc, ctx),
        **depth.sigmoid_derivative_example(cfg.sigmoid_grid),
        **depth.init_example(cfg.init, mc_rng(5), mc),
        **image_layers.image_examples(cfg.images),
        **rl.semi_gradient_check(cfg.td, s),
        **rl.td_examples(cfg.td, mc_rng(6), mc, ctx),
        **rl.chain_rule_example(cfg.chain_rule, rng(7), s),
    }
