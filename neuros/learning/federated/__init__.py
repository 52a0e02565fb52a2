"""Federated averaging (issue 29): clients train locally on their own, non-IID shards and a
server averages their weights by sample count, w = sum_k (n_k / N) w_k (the seed's 5.11, 8.7).
`FederatedNeuro` (``learning.federated``) in neuro.py; the experiment in experiment.py. Importing
it costs no torch."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="federated", issue=29,
    task="digits split over 5 non-IID clients (each holds two digit classes); an MLP 64-64-10, "
         "rounds of local SGD epochs then weighted averaging",
    figure="test accuracy of the FedAvg global model",
    baseline="the same net trained on one client's data alone (and, in extra, centralised training on all "
             "of it and the FedAvg / centralised ratio)",
    experiment="federated.experiment:run", learner="federated.neuro:FederatedNeuro")

__all__ = ["PARADIGM"]
