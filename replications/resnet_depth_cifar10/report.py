"""What the generic learning-curve figure's panels measure, where a curve's name alone would mislead."""

CURVE_TITLES = {
    "train_error": "running train error: augmented batches, BN in training mode\n(the targets judge train_error_*: a "
    "fixed sample, inference mode)",
    "test_error": "test error (full test set, inference mode)",
}
