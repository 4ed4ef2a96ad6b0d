"""Typed, frozen configs for the model and for training, plus named presets.

One `ModelConfig` fixes the architecture (what a checkpoint's weights need), one
`TrainConfig` fixes how it is trained. Both round-trip through `config.json`, which
is written next to the checkpoints and inside every export, so translate, evaluate
and export rebuild exactly what was trained. Numbers follow ../shared/SPEC.md.

    from uagit_tf import config
    cfg = config.preset("tiny")
"""

import dataclasses
import json
import os
from typing import Any


def _f(default: Any, help_text: str, choices: tuple | None = None) -> Any:
  """A config field with its help text (the command-line flags are made from these);
  `choices` makes the flag an enum."""
  return dataclasses.field(default=default, metadata={"help": help_text, "choices": choices})


STRATEGIES = ("default", "mirrored", "multi_worker")
MIXED_PRECISION = ("none", "bfloat16", "float16")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Architecture of the generators, attention nets and discriminators."""
  ngf: int = _f(32, "Generator base width (authors: 32, CycleGAN: 64).")
  ndf: int = _f(64, "Discriminator base width.")
  disc_layers: int = _f(3, "Stride-2 layers of the PatchGAN: 3 gives the paper's 70x70 patches (for 256 px); 1 (16 px) keeps that locality at 64 px.")
  n_res_blocks: int = _f(9, "Residual blocks in the generator (6 is usual below 256 px).")
  attention: bool = _f(True, "False: plain CycleGAN, the baseline (mask = all ones).")
  attention_width: int = _f(32, "Attention net base width (authors: 32).")
  attention_decoder_kernel: int = _f(3, "Kernel of the attention decoder convs: 3, or 1 as the authors' code had in effect.")
  disc_norm_stage2: bool = _f(False, "Keep instance norm in the discriminators in stage 2 (the authors drop it).")

  def __post_init__(self):
    for name in ("ngf", "ndf", "attention_width"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
    if not 1 <= self.disc_layers <= 5:
      raise ValueError(f"disc_layers must be in [1, 5], got {self.disc_layers}")
    if self.n_res_blocks < 0:
      raise ValueError(f"n_res_blocks must be >= 0, got {self.n_res_blocks}")
    if self.attention_decoder_kernel not in (1, 3):
      raise ValueError("attention_decoder_kernel must be 1 or 3, got "
                       f"{self.attention_decoder_kernel}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Data, schedule and loss weights. Defaults are the paper's settings."""
  dataset: str = _f("synthetic", "'synthetic', a folder with trainA/ trainB/ testA/ testB/, or a TFDS name such as cycle_gan/horse2zebra.")
  tfds_data_dir: str = _f("", "Where prepared TFDS data sets are; empty: TFDS's default.")
  image_size: int = _f(256, "Training crop size in pixels (a multiple of 4).")
  load_size: int = _f(286, "Images are resized to this before the random crop.")
  batch_size: int = _f(1, "Images per domain per step.")
  epochs: int = _f(100, "Total epochs (stage 1 + stage 2).")
  attention_epochs: int = _f(30, "Epochs of stage 1 (attention nets train); stage 2 freezes them.")
  steps_per_epoch: int = _f(0, "Steps per epoch; 0 means max(|train A|, |train B|) / batch_size.")
  lr: float = _f(1e-4, "Adam learning rate of every network (authors: 1e-4).")
  decay_epoch: int = _f(50, "The LR is constant before this epoch, then decays linearly to 0.")
  beta1: float = _f(0.5, "Adam beta1.")
  beta2: float = _f(0.999, "Adam beta2.")
  lambda_cyc: float = _f(10.0, "Weight of each cycle-consistency L1 loss.")
  lambda_id: float = _f(0.0, "Weight of an optional identity L1 loss; 0 (the paper has none).")
  lambda_mask: float = _f(0.0, "Weight of an optional L1 sparsity prior on the masks in stage 1; 0 (not in the paper, see BUILD_NOTES).")
  attention_warmup_epochs: int = _f(0, "Epochs at the start that train generators and discriminators with the attention nets held at their initial masks (~0.5), so masks start learning against a generator that already translates; 0 (not in the paper, see BUILD_NOTES).")
  mask_threshold: float = _f(0.1, "tau: stage 2 discriminators see pixels whose mask exceeds this.")
  pool_size: int = _f(50, "Image pool size, (fake, mask) pairs per discriminator; 0 disables.")
  seed: int = _f(0, "Seed of weights, data order, augmentation and the pools.")
  synthetic_train_size: int = _f(1000, "Images per domain of the built-in set.")
  synthetic_test_size: int = _f(100, "Test images per domain of the built-in set.")
  synthetic_background_mix: float = _f(0.25, "Share of built-in images given the other domain's background palette: 0.25 (default) is horse2zebra-like (zebras on grass exist), 0 makes the background a perfect domain cue, 0.5 no cue.")
  checkpoint_every: int = _f(500, "Checkpoint every N steps; one is also written at each epoch end.")
  keep_checkpoints: int = _f(3, "How many recent checkpoints to keep.")
  summary_every: int = _f(50, "Steps between TensorBoard scalar summaries.")
  image_summary_every: int = _f(500, "Steps between TensorBoard image grids (input | mask | translated | reconstruction).")
  deterministic: bool = _f(False, "Turn on op determinism: bit-exact runs and resumes, slower.")
  strategy: str = _f("default", "tf.distribute strategy: default (one device), mirrored (all local GPUs/devices), multi_worker (reads TF_CONFIG). batch_size is the global batch.", STRATEGIES)
  mixed_precision: str = _f("none", "none, bfloat16 or float16 (with dynamic loss scaling): Keras dtype policy of the networks; weights, masks, losses and exports stay float32.", MIXED_PRECISION)
  jit_compile: bool = _f(False, "XLA-compile the train step (off: on these CPUs it measured ~1.4x slower; GPUs may gain).")
  intra_op_threads: int = _f(0, "Threads one op (a convolution) may use; 0: TensorFlow's default (every core). On small CPUs 1 can be faster: TF's defaults run ops concurrently with every core each (BUILD_NOTES 'Scale and speed').")
  inter_op_threads: int = _f(0, "Ops run concurrently; 0: TensorFlow's default (every core).")
  skip_nonfinite_steps: int = _f(0, "Skip up to N batches whose loss is NaN/Inf (back to the last checkpoint, that batch left out); 0 stops at the first.")

  def __post_init__(self):
    if self.image_size < 8 or self.image_size % 4:
      raise ValueError(f"image_size must be a multiple of 4 and >= 8, got {self.image_size}")
    if self.load_size < self.image_size:
      raise ValueError(f"load_size ({self.load_size}) must be >= image_size "
                       f"({self.image_size})")
    for name in ("batch_size", "epochs", "checkpoint_every", "keep_checkpoints",
                 "summary_every", "image_summary_every", "synthetic_train_size",
                 "synthetic_test_size"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
    if not 0 <= self.attention_epochs <= self.epochs:
      raise ValueError(f"attention_epochs must be in [0, epochs={self.epochs}], got "
                       f"{self.attention_epochs}")
    if not 0 <= self.attention_warmup_epochs <= self.attention_epochs:
      raise ValueError("attention_warmup_epochs must be in [0, attention_epochs="
                       f"{self.attention_epochs}], got {self.attention_warmup_epochs}")
    if not 0 <= self.decay_epoch <= self.epochs:
      raise ValueError(f"decay_epoch must be in [0, epochs={self.epochs}], got "
                       f"{self.decay_epoch}")
    if self.steps_per_epoch < 0:
      raise ValueError(f"steps_per_epoch must be >= 0, got {self.steps_per_epoch}")
    if not 0.0 <= self.mask_threshold < 1.0:
      raise ValueError(f"mask_threshold must be in [0, 1), got {self.mask_threshold}")
    if not 0.0 <= self.synthetic_background_mix <= 1.0:
      raise ValueError("synthetic_background_mix must be in [0, 1], got "
                       f"{self.synthetic_background_mix}")
    for name in ("pool_size", "intra_op_threads", "inter_op_threads"):
      if getattr(self, name) < 0:
        raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
    if self.strategy not in STRATEGIES:
      raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
    if self.mixed_precision not in MIXED_PRECISION:
      raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, got "
                       f"{self.mixed_precision!r}")
    if self.lr <= 0:
      raise ValueError(f"lr must be > 0, got {self.lr}")


@dataclasses.dataclass(frozen=True)
class Config:
  model: ModelConfig = _f(ModelConfig(), "Model.")
  train: TrainConfig = _f(TrainConfig(), "Train.")

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "Config":
    return cls(model=_build(ModelConfig, d.get("model", {})),
               train=_build(TrainConfig, d.get("train", {})))


def _build(cls, values: dict[str, Any]):
  known = {f.name for f in dataclasses.fields(cls)}
  unknown = sorted(set(values) - known)
  if unknown:
    raise ValueError(f"Unknown {cls.__name__} fields: {unknown}")
  return cls(**values)


# Presets: partial overrides of the defaults (which are the paper's settings).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {"model": {}, "train": {}},
    # 64 px, thin nets, a few steps: CI and smoke runs in seconds.
    "tiny": {
        "model": {"ngf": 8, "ndf": 8, "n_res_blocks": 1, "attention_width": 8},
        "train": {"image_size": 32, "load_size": 36, "epochs": 2, "attention_epochs": 1,
                  "decay_epoch": 1, "steps_per_epoch": 3, "pool_size": 4,
                  "synthetic_train_size": 16, "synthetic_test_size": 4,
                  "checkpoint_every": 2, "summary_every": 1, "image_summary_every": 2},
    },
    # The README demo: 64 px on the built-in set, a few minutes on 2 CPU cores. One
    # documented departure from the paper (BUILD_NOTES "Quality"): a one-epoch attention
    # warm-up, without which B->A's mask dies; with it the masks find the object in both
    # directions (benchmarks/quality.py: IoU 0.86 / 0.82).
    "demo": {
        "model": {"ngf": 16, "ndf": 32, "n_res_blocks": 4, "attention_width": 16},
        "train": {"image_size": 64, "load_size": 72, "epochs": 10, "attention_epochs": 3,
                  "attention_warmup_epochs": 1,
                  "decay_epoch": 5, "steps_per_epoch": 200, "lr": 2e-4, "pool_size": 50,
                  "synthetic_train_size": 1000, "synthetic_test_size": 100,
                  "checkpoint_every": 200, "summary_every": 20, "image_summary_every": 200},
    },
}


def preset(name: str, **overrides: Any) -> Config:
  """Returns a preset's config with `overrides` (field name -> value) applied."""
  if name not in PRESETS:
    raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}")
  return override(Config.from_dict(PRESETS[name]), overrides)


MODEL_FIELDS = frozenset(f.name for f in dataclasses.fields(ModelConfig))
TRAIN_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainConfig))
# Training fields that a checkpoint's state depends on (the image pool's shape).
FROZEN_TRAIN_FIELDS = frozenset({"image_size", "pool_size"})


def override(cfg: Config, overrides: dict[str, Any]) -> Config:
  """Returns `cfg` with flat field overrides applied to the right sub-config."""
  unknown = sorted(set(overrides) - MODEL_FIELDS - TRAIN_FIELDS)
  if unknown:
    raise ValueError(f"Unknown config fields: {unknown}")
  model = {k: v for k, v in overrides.items() if k in MODEL_FIELDS}
  train = {k: v for k, v in overrides.items() if k in TRAIN_FIELDS}
  return Config(model=dataclasses.replace(cfg.model, **model),
                train=dataclasses.replace(cfg.train, **train))


def flat(cfg: Config) -> dict[str, Any]:
  return {**dataclasses.asdict(cfg.model), **dataclasses.asdict(cfg.train)}


def check_resumable(saved: Config, wanted: Config) -> None:
  """Raises ValueError if `wanted` cannot continue a run trained as `saved`.

  The architecture and the fields the checkpointed state depends on must match;
  the schedule (epochs, lr, ...) may change, e.g. raising `epochs` continues a run.
  """
  a, b = flat(saved), flat(wanted)
  bad = sorted(k for k in MODEL_FIELDS | FROZEN_TRAIN_FIELDS if a[k] != b[k])
  if bad:
    diffs = ", ".join(f"{k}: workdir has {a[k]!r}, flags give {b[k]!r}" for k in bad)
    raise ValueError(
        "The workdir was trained with a different model config and cannot be resumed "
        f"with these flags ({diffs}). Use a new --workdir, or drop these flags.")


CONFIG_FILE = "config.json"


def save(cfg: Config, directory: str) -> str:
  """Writes `directory/config.json` atomically and returns its path."""
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, CONFIG_FILE)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(cfg.to_dict(), f, indent=2, sort_keys=True)
    f.write("\n")
  os.replace(tmp, path)
  return path


def load(directory: str) -> Config:
  """Reads `directory/config.json`.

  Raises:
    FileNotFoundError: there is no config.json (not a uagit_tf workdir or export).
    ValueError: the file is not a valid config.
  """
  path = os.path.join(directory, CONFIG_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f"No {CONFIG_FILE} in {directory!r}: not a uagit_tf workdir (train with "
        "`python -m trainers.train --workdir=...` first).")
  try:
    with open(path) as f:
      return Config.from_dict(json.load(f))
  except (json.JSONDecodeError, TypeError) as e:
    raise ValueError(f"{path} is not a valid uagit_tf config: {e}") from e
