"""uagit_tf: Unsupervised Attention-guided Image-to-Image Translation, TF 2 / Keras 3."""

import setuptools

setuptools.setup(
    name="uagit_tf",
    version="0.1.0",
    description="Unsupervised Attention-guided Image-to-Image Translation (NeurIPS 2018) "
                "in TensorFlow 2 / Keras 3: train, resume, export, serve.",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["uagit_tf", "uagit_tf.*", "trainers",
                                               "export"]),
    license="Apache-2.0",
    python_requires=">=3.10,<3.14",
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "tensorboard>=2.21,<2.22",  # tf.summary needs it; TF 2.21 no longer pulls it in.
        "tensorflow-datasets>=4.9.10,<4.10",
        "importlib_resources>=6",  # tfds 4.9.10 imports it without declaring it.
        "absl-py>=2.1,<3",
        "numpy>=1.26,<3",
        "ai-edge-litert>=2.0,<3",
        "tensorflow-serving-api>=2.21,<2.22",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100", "scipy>=1.11",
                 "pillow>=10"],
    },
    entry_points={
        "console_scripts": [
            "uagit-train=trainers.train:run",
            "uagit-translate=trainers.translate:run",
            "uagit-evaluate=trainers.evaluate:run",
            "uagit-export-saved-model=export.saved_model:run",
            "uagit-export-tflite=export.tflite:run",
        ],
    },
)
