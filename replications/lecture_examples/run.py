"""The course notes' worked examples and constructions, computed through Keras layers, keras.ops and the backend's
autodiff (../shared/sources/course-notes.md; each examples_*.py module names the slides it follows).

Each example returns flat metrics that claim.yaml checks against the notes' numbers. Independent NumPy computations
(the delta recursion, the sliding window, Adam's equations, the closed forms) are second derivations to compare with,
not the source of the checked values. Every random draw comes from `example_seed`, not from the run seed, so that
every metric is identical across seeds: these are deterministic checks, not experiments.
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
    """Seed of every random draw (inputs, initial weights, walks), fixed and independent of the run seed."""
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
    """Every example in the notes' order. `seed` is unused on purpose (see the module docstring)."""
    del seed

    def rng(stream: int) -> np.random.Generator:  # one stream per example: none depends on another's draws
        return np.random.default_rng([cfg.example_seed, stream])

    s = cfg.example_seed
    return {
        **networks.perceptron_examples(cfg.perceptron),
        **networks.neuron_gradient_examples(cfg.neuron),
        **networks.backprop_example(cfg.backprop),
        **networks.gradient_remarks(cfg.gradient_remarks, rng(1), s),
        **losses.softmax_examples(cfg.softmax, rng(2)),
        **losses.grading_examples(cfg.grading),
        **optim.momentum_example(cfg.momentum),
        **optim.adam_example(cfg.adam),
        **image_layers.regularisation_examples(cfg.regularisation, rng(3), s),
        **approximation.indicator_examples(cfg.approximation, ctx),
        **approximation.square_examples(cfg.approximation, ctx),
        **approximation.box_examples(cfg.approximation, ctx),
        **depth.product_examples(cfg.products, s),
        **depth.depth_examples(cfg.depth, rng(4), s, ctx),
        **depth.sigmoid_derivative_example(cfg.sigmoid_grid),
        **depth.init_example(cfg.init, rng(5), s),
        **image_layers.image_examples(cfg.images),
        **rl.td_examples(cfg.td, rng(6), s, ctx),
        **rl.chain_rule_example(cfg.chain_rule, rng(7), s),
    }
