"""Training hyper-parameter presets (PROTOCOL §6), free of torch so config checks can read them."""

from __future__ import annotations

#: Hyper-parameters of the adaptation study (default) and of LPIPS (PROTOCOL §6).
PRESETS: dict[str, dict[str, float | int]] = {
    "study": {
        "lr": 1e-3,
        "beta1": 0.5,
        "beta2": 0.999,
        "batch_size": 1024,
        "epochs_constant": 5,
        "epochs_decay": 5,
    },
    "lpips": {
        "lr": 1e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "batch_size": 50,
        "epochs_constant": 5,
        "epochs_decay": 5,
    },
}
