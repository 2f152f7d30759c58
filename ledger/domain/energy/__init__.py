"""Solar energy sharing (autoconsommation collective): allocation, time steps and pricing.

Pure core: standard library only, integer Wh and micro-euro, rounding written down.
"""
