"""Build the project's example models locally, from scratch and offline, in seconds.

``build_examples(out_dir, seed=0, log=print)`` writes a TF Serving style model repository; see
``modelserve.examples.build`` for the layout. Importing this package does not import TensorFlow.
"""

from modelserve.examples.build import build_examples

__all__ = ["build_examples"]
