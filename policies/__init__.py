"""neuro.policies"""
