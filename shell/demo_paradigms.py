"""The demo's paradigms act: MARBLE's learning paradigms are installed learners; one of them
(the continuous weight field) trains and answers through the kernel, as any learner does."""

from __future__ import annotations

from pathlib import Path

import neuro


async def paradigms(k: neuro.Kernel, folder: Path) -> str:
    try:
        from neuro.neuros.learning.paradigms import paradigms as built
        from neuro.neuros.learning.protocol import Evaluate, Train
        from neuro.neuros.learning.weightfield.neuro import WeightFieldNeuro
    except ImportError as e:
        return f"skipped: {e} (bash scripts/setup.sh installs the learning extra)"
    await k.spawn(WeightFieldNeuro)
    trained = await k.call(WeightFieldNeuro.name, Train(epochs=5, seed=0, wait=True), timeout=300)
    result = await k.call(WeightFieldNeuro.name, Evaluate(dataset="bumpy_line"), timeout=300)
    mse = next((v for key, v in result.metrics.items() if "mse" in key), float("nan"))
    return (f"{len(built())} paradigms registered (bench/learning_paradigms); the RBF weight field trained "
            f"{trained.epochs} epochs through the kernel: test MSE {mse:.4f} on a bumpy 1-D function")
