"""neuro.shell"""
