"""A compatibility matrix harness for Keras and TensorFlow.

It installs version pairings into their own envs, runs scenario modules inside them, and gives
each cell a verdict backed by evidence (see README.md).
"""

__version__ = "0.1.0"
