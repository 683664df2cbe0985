"""Accuracy of the trained `model` on the hidden test set (labels stay in the judge).

This file runs first (pytest takes files in name order): a later test that times out may restart the
kernel, which replays the notebook's definitions only, and the trained `model` would be gone.
Marked ``hidden_data`` (the judge infers it from ``hidden_dir`` too): a failure's message is the
judge's fixed text, never what the student's code raised with the hidden images in hand.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.hidden_data

# (lowest accuracy, share of the item's points), best band first. Chance is 10 %.
BANDS = [(0.90, 1.0), (0.80, 0.8), (0.65, 0.6), (0.50, 0.4), (0.30, 0.2)]


def test_accuracy(predict, test_split, credit):
    images, labels = test_split
    logits = predict(images)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == labels))
    for edge, share in BANDS:
        if accuracy >= edge:
            credit.score(share, f"accuracy on the hidden test set {accuracy:.1%} (band: at least {edge:.0%})")
            return
    raise AssertionError(f"accuracy on the hidden test set {accuracy:.1%}: below {BANDS[-1][0]:.0%}, no marks")
