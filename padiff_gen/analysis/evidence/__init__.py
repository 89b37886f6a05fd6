"""Evidence from running models: probes on one layer or one block, random weights at a
trained model's scale, replays of paired layers, constants a constructor computes.

Our rule: decide by evidence, on the smallest part of the models that holds the question.
"""
