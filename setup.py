from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="s3prl",
    version="0.5.0.dev0",
    description="Self-supervised speech pre-training and representation learning toolkit: "
    "every pretrained speech upstream behind one interface",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["s3prl", "s3prl.*"]),
    package_data={"s3prl": ["upstream/*/*.yaml", "downstream/*/*.yaml"]},
    install_requires=[
        "torch>=2.5",
        "numpy>=1.23",
        "requests>=2.28",
        "filelock>=3.12",
        "tqdm>=4.64",
        "pyyaml>=6.0",
        "soundfile>=0.12",
        "soxr>=0.3",
        "safetensors>=0.4",
        "pytorch-lightning>=2.2",
        "omegaconf>=2.3",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "pytest-timeout",
            "transformers>=4.40",
            "kaldi-native-fbank>=1.18",
            "librosa>=0.10",
            "ruff",
            "sphinx>=7",
        ],
    },
    entry_points={
        "console_scripts": [
            "s3prl-extract=s3prl.extract:main",
            "s3prl-benchmark=s3prl.downstream.runner:main",
        ]
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
