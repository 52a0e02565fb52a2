"""What the paradigm learners (neuros/learning/paradigms.py) share: `base.ParadigmLearner`
(a learner over one config struct, with a device), `torchstate` (weights of torch modules,
option checks, the flat digits), `rows` (inputs as tensor rows, class predictions),
`classifier.NetClassifier` (finish, Predict, Evaluate, Snapshot, Restore of a torch
classifier) and `regressor.TorchRegressor` (the same for a regressor). Importing it costs no torch."""
