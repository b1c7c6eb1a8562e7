"""What the generic learning-curve figure's panels measure, where a curve's name alone would mislead."""

CURVE_TITLES = {
    "train_error": "train_error: running mean over each pass (weights changing), not the final metric",
    "train_loss": "train_loss: running mean over each pass (weights changing)",
}
