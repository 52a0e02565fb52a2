"""neuro.dream"""
