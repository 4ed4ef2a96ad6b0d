"""uagit_tf: Unsupervised Attention-guided Image-to-Image Translation in TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"
