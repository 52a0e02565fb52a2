"""`learning.reinforcement`: Q-learning, policy gradient with baseline, or soft actor-critic (protocol v2).

    Train     no data: the environment is generated from the options (`algorithm` picks it:
              the grid world for qlearning and policy_gradient, the point mass for sac); a
              job's unit is a block of episodes_per_unit episodes (sac: sac_steps_per_unit
              environment steps); ends with the mean return and the random policy's
    Predict   the greedy action of each state: grid states as (N,) cell indices r*size+c,
              point-mass observations as (N, 4); `y` holds the actions
    Evaluate  mean return of the learnt policy and of a random one (send dataset="env")
    Snapshot  the Q table, logits and baseline, or SAC's nets, format version 1
"""

from __future__ import annotations

from typing import Any

from ..paradigmkit.base import ParadigmLearner
from ..learner import TrainData
from ..protocol import Array, Description, Prediction, Restored, Train, Weights
from .config import RANGES, ReinforcementConfig

__all__ = ["ReinforcementNeuro"]

FORMAT, VERSION = "learning.reinforcement", 1
ENV = "env"


class _Model:
    def __init__(self, cfg: ReinforcementConfig, device: Any) -> None:
        import numpy as np

        from .gridworld import GridWorld
        from .pointmass import PointMass

        self.cfg, self.device = cfg, device
        self.rng = np.random.default_rng(cfg.seed)
        self.epsilon = cfg.epsilon
        self.world = GridWorld(cfg.grid_size, cfg.walls, cfg.world_seed, cfg.horizon)
        self.q = np.zeros((self.world.n_states, self.world.n_actions))
        self.pg = self.sac = None
        if cfg.algorithm == "policy_gradient":
            from .policy_gradient import PolicyGradient

            self.pg = PolicyGradient(self.world.n_states, 4, lr=cfg.lr, gamma=cfg.gamma, seed=cfg.seed, device=device)
        if cfg.algorithm == "sac":
            from .sac import SAC

            self.env, self.test_env = PointMass(seed=cfg.seed), PointMass(seed=cfg.seed + 1)
            self.sac = SAC(PointMass.obs_dim, PointMass.act_dim, lr=cfg.sac_lr, gamma=cfg.gamma, alpha=cfg.sac_alpha,
                           seed=cfg.seed, device=device)
            self.sac_steps = 0

    def policy(self) -> Any:
        """The learnt policy as policy(state, rng) (grid) or policy(obs) (point mass)."""
        from .tabular import greedy

        if self.sac is not None:
            return lambda o: self.sac.act(o, greedy=True)
        if self.pg is not None:
            return self.pg.act
        return lambda s, rng: greedy(self.q, s, rng)

    def mean_returns(self, episodes: int = 20) -> dict[str, float]:
        import numpy as np

        if self.sac is not None:
            env = self.test_env
            mine = np.mean([env.episode_return(self.policy()) for _ in range(episodes)])
            rand = np.mean([env.episode_return(lambda o: self.rng.uniform(-1, 1, 2)) for _ in range(episodes)])
        else:
            w = self.world
            mine = np.mean([w.episode_return(self.policy(), self.rng) for _ in range(episodes)])
            rand = np.mean([w.episode_return(lambda s, r: int(r.integers(4)), self.rng) for _ in range(episodes)])
        return {"mean_return": float(mine), "random_return": float(rand)}


class ReinforcementNeuro(ParadigmLearner):
    """Learns to act for return in a generated environment."""

    name = "learning.reinforcement"
    config_type = ReinforcementConfig
    ranges = RANGES

    def describe(self) -> Description:
        return Description(
            name=self.name, tasks=["control"], options=self.option_specs(), capabilities=["gpu"], datasets=[ENV],
            weight_format=FORMAT, weight_version=VERSION,
            summary="Q-learning or policy gradient with a baseline on a generated grid world, soft actor-critic on "
                    "a generated point mass; Predict gives greedy actions, Evaluate mean returns")

    def load_dataset(self, name: str) -> TrainData:
        import numpy as np

        if name != ENV:
            raise ValueError(f"learning.reinforcement learns from its generated environment: send dataset={ENV!r} "
                             "or no data at all")
        none = np.zeros((1, 1), np.float32)
        return TrainData(name=ENV, task="control", x=none, y=none, input_shape=(1,), test=(none, none),
                         hash="generated")

    def data_of(self, train: Train) -> TrainData:
        if train.x is not None or train.y is not None:
            raise ValueError("learning.reinforcement takes no inline data; the options generate its environment")
        return self.load_dataset(ENV)

    def begin(self, train: Train, data: TrainData, model: Any) -> tuple[Any, float, str]:
        cfg = self.configure(train)
        same_env = model is not None and all(getattr(model.cfg, k) == getattr(cfg, k) for k in
                                             ("algorithm", "grid_size", "walls", "world_seed", "horizon"))
        if not same_env:
            model = _Model(cfg, self.device(cfg.device))
        model.cfg = cfg
        return model, float(train.epochs), "block"

    def fit_steps(self, model: Any, data: TrainData, job: Any) -> tuple[float, dict[str, float]]:
        cfg = model.cfg
        if model.sac is not None:
            model.sac.train(model.env, cfg.sac_steps_per_unit, warmup=max(0, 200 - model.sac_steps), rng=model.rng)
            model.sac_steps += cfg.sac_steps_per_unit
            return 1.0, {"env_steps": float(model.sac_steps), "steps": float(cfg.sac_steps_per_unit)}
        if model.pg is not None:
            import numpy as np

            returns = [model.pg.episode(model.world) for _ in range(cfg.episodes_per_unit)]
            return 1.0, {"train_return": float(np.mean(returns)), "steps": float(cfg.episodes_per_unit)}
        from .tabular import q_learning

        _, model.epsilon = q_learning(model.world, cfg.episodes_per_unit, alpha=cfg.alpha, gamma=cfg.gamma,
                                      epsilon=model.epsilon, epsilon_decay=cfg.epsilon_decay,
                                      min_epsilon=cfg.min_epsilon, seed=int(model.rng.integers(1 << 31)), q=model.q)
        return 1.0, {"epsilon": model.epsilon, "steps": float(cfg.episodes_per_unit)}

    def finish(self, model: Any, data: TrainData) -> dict[str, float]:
        return model.mean_returns()

    def predict(self, model: Any, x: Any) -> Prediction:
        import numpy as np

        x = np.asarray(x)
        if model.sac is not None:
            if x.ndim != 2 or x.shape[1] != 4:
                raise ValueError(f"point-mass observations are (N, 4): x, y, vx, vy; got shape {tuple(x.shape)}")
            return Prediction(y=Array.of(np.stack([model.sac.act(o, greedy=True) for o in x]).astype(np.float32)))
        states = x.reshape(-1).astype(np.int64)
        if x.ndim > 2 or len(states) != len(x) or states.min(initial=0) < 0 or states.max(initial=0) >= model.world.n_states:
            raise ValueError(f"grid states are (N,) cell indices in [0, {model.world.n_states}), got {x.dtype} "
                             f"{tuple(x.shape)}")
        table = model.q if model.pg is None else model.pg.logits.detach().cpu().numpy()
        actions = table[states].argmax(1)
        return Prediction(y=Array.of(actions.astype("int64")), labels=[int(a) for a in actions])

    def evaluate(self, model: Any, x: Any, y: Any) -> dict[str, float]:
        return model.mean_returns()

    def to_weights(self, model: Any) -> Weights:
        import torch

        from ..paradigmkit.torchstate import encode_modules

        if model.sac is not None:
            modules = {k: getattr(model.sac, k) for k in ("actor", "q1", "q2", "q1_target", "q2_target")}
        elif model.pg is not None:
            modules = {"pg": {"logits": model.pg.logits, "value": model.pg.value}}
        else:
            modules = {"q": {"q": torch.as_tensor(model.q)}}
        return encode_modules(FORMAT, VERSION, model.cfg, modules, extra={"epsilon": model.epsilon})

    def from_weights(self, weights: Weights) -> tuple[Any, Restored]:
        import torch

        from ..paradigmkit.torchstate import decode_modules

        cfg, states, extra = decode_modules(weights, FORMAT, VERSION, ReinforcementConfig)
        model = _Model(cfg, self.device(cfg.device))
        model.epsilon = float(extra.get("epsilon", cfg.epsilon))
        if model.sac is not None:
            for k, state in states.items():
                getattr(model.sac, k).load_state_dict(state)
        elif model.pg is not None:
            with torch.no_grad():
                model.pg.logits.copy_(states["pg"]["logits"])
                model.pg.value.copy_(states["pg"]["value"])
        else:
            model.q = states["q"]["q"].numpy().copy()
        self.config = cfg
        return model, Restored(version=weights.version)
