"""Learning systems, each a neuro service speaking the learner protocol."""
