"""The quantum flux experiment: a unitary layer against an unconstrained complex layer on a unitary task.

An unknown Haar-random unitary U_true (n = 8; 16 at full size) maps unit complex amplitude vectors;
the layers see `examples` noisy pairs (psi, U_true psi + noise), fewer than n, so the data alone
does not pin the map down. The unitary layer's constraint (norm preserved, columns orthonormal)
fills in what the examples leave open; the free layer only fits them. Figure: test task error on
500 fresh unit states (lower is better); baseline: the unconstrained layer's. Extra: each layer's
unitarity error ||U^H U - I||_F (the constrained one is ~1e-6 by construction, so it is not the
figure: it would measure the parametrisation, not learning), and both with 2n examples."""

from __future__ import annotations

from ..paradigms import Outcome

__all__ = ["run"]


def run(quick: bool = True, seed: int = 0) -> Outcome:
    import torch

    from .unitary import ComplexLayer, fit_layer, random_states, random_unitary, unitarity_error

    torch.set_num_threads(1)
    n, steps = (8, 300) if quick else (16, 1500)
    truth = random_unitary(n, seed)
    test = random_states(500, n, seed + 3)

    def trained(examples: int, unitary: bool) -> tuple[float, float]:
        psi = random_states(examples, n, seed + 1)
        noise = torch.view_as_complex(torch.randn(examples, n, 2, generator=torch.Generator().manual_seed(seed + 2)))
        layer = ComplexLayer(n, unitary, seed)
        fit_layer(layer, psi, psi @ truth.T + 0.05 * noise, steps, lr=0.01)
        with torch.no_grad():
            err = float((layer.forward(test) - test @ truth.T).abs().pow(2).sum(1).mean())
            return err, unitarity_error(layer.matrix())

    few = n - 2
    u_err, u_unit = trained(few, True)
    w_err, w_unit = trained(few, False)
    u_many, _ = trained(2 * n, True)
    w_many, _ = trained(2 * n, False)
    return Outcome(figure=u_err, baseline=w_err, unit="test task error", higher_is_better=False, margin=0.3,
                   extra={"unitary_unitarity_error": u_unit, "unconstrained_unitarity_error": w_unit,
                          "unitary_task_error_2n_examples": u_many,
                          "unconstrained_task_error_2n_examples": w_many, "dimension": float(n),
                          "examples": float(few)},
                   note=f"n = {n}, {few} noisy examples (noise 0.05), {steps} Adam steps (lr 0.01), "
                        "both started near I")
