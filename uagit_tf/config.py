"""Typed, frozen configs, one per concern, and named presets.

    from uagit_tf import config
    cfg = config.preset("tiny", lr=3e-4)        # flat overrides, as the flags give them
    cfg.model.ngf, cfg.data.image_size, cfg.schedule.epochs, cfg.loss.lambda_cyc, cfg.run.seed

`Config` holds a `ModelConfig` (the architecture: what a checkpoint's weights need) and
four training concerns: data, schedule, loss and run (logging, checkpoints, runtime).
Every field is a command-line flag of `trainers.train` under the same flat name; `--help`
groups them by concern. The config round-trips through `config.json`, written next to the
checkpoints and inside every export, so translate, evaluate and export rebuild exactly
what was trained. The defaults are the paper's settings except where a field's help says
not (docs/method.md); those departures are the fields of PAPER_METHOD, which
`--background_prior` holds together (`apply_background_prior`; auto decides on the data at
the start of training, uagit_tf/background_prior.py).
"""

import dataclasses
import json
import logging
import os
from typing import Any

STRATEGIES = ("default", "mirrored", "multi_worker")
MIXED_PRECISION = ("none", "bfloat16", "float16")
SYNTHETIC_VARIANTS = ("standard", "hard", "clutter", "fill")
STAGE2_FAKES = ("composite", "generated")
BACKGROUND_PRIORS = ("auto", "on", "off", "saliency")
CONFIG_FILE = "config.json"


def _f(default: Any, help_text: str, choices: tuple | None = None) -> Any:
  """A field with its (short) help text; `choices` makes the flag an enum."""
  return dataclasses.field(default=default, metadata={"help": help_text, "choices": choices})


def _check(condition: bool, message: str) -> None:
  if not condition:
    raise ValueError(message)


def _at_least(cfg, minimum: float, *names: str) -> None:
  for name in names:
    _check(getattr(cfg, name) >= minimum,
           f"{name} must be >= {minimum}, got {getattr(cfg, name)}")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Architecture of the generators, attention nets and discriminators."""
  ngf: int = _f(32, "Generator base width (authors: 32, CycleGAN: 64).")
  ndf: int = _f(64, "Discriminator base width.")
  disc_layers: int = _f(3, "PatchGAN stride-2 layers: 3 is the paper's 70x70 patch.")
  n_res_blocks: int = _f(9, "Generator residual blocks (6 is usual below 256 px).")
  attention: bool = _f(True, "False: plain CycleGAN, the baseline (mask = all ones).")
  attention_width: int = _f(32, "Attention net base width (authors: 32).")
  attention_refine_radius: float = _f(0.125, "Guided filter of masks by image: radius, share of image_size; 0: off (paper).")
  attention_refine_eps: float = _f(0.001, "Guided filter ridge: larger smooths masks, smaller follows colour edges.")
  attention_decoder_kernel: int = _f(3, "Attention decoder and last conv: 3 (7x7 last; not the paper), or 1x1 (authors').")
  residual_relu: bool = _f(True, "ReLU after each residual add (authors' code; CycleGAN has none).")
  disc_norm_stage2: bool = _f(False, "Keep the discriminators' instance norm in stage 2.")
  disc_norm_first: bool = _f(True, "Instance norm after D's first conv (authors' code); false: D sees colour.")

  def __post_init__(self):
    _at_least(self, 1, "ngf", "ndf", "attention_width")
    _at_least(self, 0, "n_res_blocks", "attention_refine_radius")
    _check(self.attention_refine_radius <= 0.5 and self.attention_refine_eps > 0,
           "attention_refine_radius must be in [0, 0.5] and attention_refine_eps > 0, got "
           f"{self.attention_refine_radius} and {self.attention_refine_eps}")
    _check(1 <= self.disc_layers <= 5, f"disc_layers must be in [1, 5], got {self.disc_layers}")
    _check(self.attention_decoder_kernel in (1, 3), "attention_decoder_kernel must be 1 or 3, "
           f"got {self.attention_decoder_kernel}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """What is trained on and how it is cropped and batched."""
  dataset: str = _f("synthetic", "'synthetic', a trainA/trainB/testA/testB folder, or a TFDS name.")
  tfds_data_dir: str = _f("", "Where prepared TFDS data sets are; empty: TFDS's default.")
  image_size: int = _f(256, "Training crop size in pixels (a multiple of 4).")
  load_size: int = _f(286, "Images are resized to this before the random crop.")
  batch_size: int = _f(1, "Images per domain per step (the global batch).")
  synthetic_train_size: int = _f(1000, "Built-in set: training images per domain.")
  synthetic_test_size: int = _f(100, "Built-in set: test images per domain.")
  synthetic_background_mix: float = _f(0.25, "Built-in set: share with the other domain's background.")
  synthetic_variant: str = _f("standard", "Built-in set: standard, hard (textured, 0-2 objects), clutter, fill (scenes).", SYNTHETIC_VARIANTS)

  def __post_init__(self):
    _check(self.image_size >= 8 and self.image_size % 4 == 0,
           f"image_size must be a multiple of 4 and >= 8, got {self.image_size}")
    _check(self.load_size >= self.image_size,
           f"load_size ({self.load_size}) must be >= image_size ({self.image_size})")
    _at_least(self, 1, "batch_size", "synthetic_train_size", "synthetic_test_size")
    _check(self.synthetic_variant in SYNTHETIC_VARIANTS, "synthetic_variant must be one of "
           f"{SYNTHETIC_VARIANTS}, got {self.synthetic_variant!r}")
    _check(0.0 <= self.synthetic_background_mix <= 1.0,
           f"synthetic_background_mix must be in [0, 1], got {self.synthetic_background_mix}")


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
  """Epochs, the two stages, and the optimizers."""
  epochs: int = _f(100, "Total epochs (stage 1 + stage 2).")
  attention_epochs: int = _f(30, "Epochs of stage 1 (the paper's 30); stage 2 freezes the attention nets.")
  attention_warmup_epochs: int = _f(0, "First epochs with the attention nets held (not in the paper).")
  attention_lr_mult: float = _f(10.0, "Attention nets' lr is lr times this (not in the paper: 1).")
  steps_per_epoch: int = _f(0, "Steps per epoch; 0: max(|train A|, |train B|) / batch_size.")
  lr: float = _f(1e-4, "Adam learning rate of every network (authors: 1e-4).")
  decay_epoch: int = _f(50, "LR constant before this epoch, then linear to 0.")
  beta1: float = _f(0.5, "Adam beta1.")
  beta2: float = _f(0.999, "Adam beta2.")

  def __post_init__(self):
    _at_least(self, 1, "epochs")
    _at_least(self, 0, "steps_per_epoch")
    _check(0 <= self.attention_epochs <= self.epochs,
           f"attention_epochs must be in [0, epochs={self.epochs}], got {self.attention_epochs}")
    _check(0 <= self.attention_warmup_epochs <= self.attention_epochs,
           f"attention_warmup_epochs must be in [0, attention_epochs={self.attention_epochs}], "
           f"got {self.attention_warmup_epochs}")
    _check(0 <= self.decay_epoch <= self.epochs,
           f"decay_epoch must be in [0, epochs={self.epochs}], got {self.decay_epoch}")
    _check(self.lr > 0 and self.attention_lr_mult > 0, "lr and attention_lr_mult must be > 0, "
           f"got {self.lr} and {self.attention_lr_mult}")


@dataclasses.dataclass(frozen=True)
class LossConfig:
  """Loss weights, the stage-2 threshold and the image pool."""
  lambda_cyc: float = _f(10.0, "Weight of each cycle-consistency L1 loss.")
  cycle_object_weight: float = _f(0.0, "Cycle L1's weight where the source mask is on, vs. off (paper: 1).")
  lambda_id: float = _f(0.0, "Weight of an identity L1 loss (not in the paper).")
  lambda_saliency: float = _f(0.0, "Stage-1 weight of masks' balanced L1 to a domain saliency (not in the paper).")
  lambda_mask: float = _f(0.0, "Weight of an L1 prior on the masks in stage 1 (not in the paper).")
  lambda_mask_background: float = _f(5.0, "Stage-1 weight of the share of border-coloured pixels masked (not in the paper).")
  lambda_mask_object: float = _f(5.0, "Stage-1 weight of the share of the other pixels left out (not in the paper).")
  disc_hide_background: bool = _f(True, "D sees no pixel coloured like its source image's border (not in the paper).")
  disc_hide_start: float = _f(0.5, "--disc_hide_background: pixels with border likeness b <= this are shown.")
  disc_hide_end: float = _f(0.9, "--disc_hide_background: pixels with b >= this are hidden (linear between).")
  disc_show_mask_above: float = _f(0.5, "--disc_hide_background in stage 2: show the pixels whose mask exceeds this.")
  mask_threshold: float = _f(0.1, "tau: stage-2 discriminators see pixels whose mask exceeds it.")
  stage2_fake: str = _f("composite", "Stage-2 fake for D: composite s' (authors' code) or generated F(s).", STAGE2_FAKES)
  pool_size: int = _f(50, "Image pool of (fake, mask) pairs per discriminator; 0: none.")
  background_prior: str = _f("auto", "on: border colours are background; saliency; off (paper); auto: by data.", BACKGROUND_PRIORS)

  def __post_init__(self):
    _check(self.background_prior in BACKGROUND_PRIORS, "background_prior must be one of "
           f"{BACKGROUND_PRIORS}, got {self.background_prior!r}")
    _check(0.0 <= self.mask_threshold < 1.0,
           f"mask_threshold must be in [0, 1), got {self.mask_threshold}")
    _at_least(self, 0, "pool_size", "lambda_id", "lambda_mask", "lambda_mask_background",
              "lambda_mask_object", "lambda_saliency")
    _check(0.0 <= self.cycle_object_weight <= 1.0,
           f"cycle_object_weight must be in [0, 1], got {self.cycle_object_weight}")
    _check(0.0 <= self.disc_hide_start < self.disc_hide_end <= 1.0,
           "disc_hide_start and disc_hide_end must satisfy 0 <= start < end <= 1, got "
           f"{self.disc_hide_start} and {self.disc_hide_end}")
    _check(0.0 <= self.disc_show_mask_above <= 1.0,
           f"disc_show_mask_above must be in [0, 1], got {self.disc_show_mask_above}")
    _check(self.stage2_fake in STAGE2_FAKES,
           f"stage2_fake must be one of {STAGE2_FAKES}, got {self.stage2_fake!r}")


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Seed, logging and checkpoint cadence, devices and threads, failure handling."""
  seed: int = _f(0, "Seed of weights, data order, augmentation and the pools.")
  checkpoint_every: int = _f(500, "Checkpoint every N steps, at each epoch end and at the end.")
  checkpoint_each_epoch: bool = _f(True, "Also checkpoint at each epoch end; off for many short epochs.")
  keep_checkpoints: int = _f(3, "Recent checkpoints kept.")
  summary_every: int = _f(50, "Steps between TensorBoard scalars (and log lines).")
  image_summary_every: int = _f(500, "Steps between TensorBoard image grids.")
  deterministic: bool = _f(False, "Op determinism: bit-exact runs and resumes, slower.")
  strategy: str = _f("default", "tf.distribute strategy; batch_size is the global batch.", STRATEGIES)
  mixed_precision: str = _f("none", "Compute dtype of the networks; weights stay float32.", MIXED_PRECISION)
  jit_compile: bool = _f(False, "XLA-compile the train step (slower on CPUs).")
  intra_op_threads: int = _f(0, "Threads per op; 0: half the cores this process may use.")
  inter_op_threads: int = _f(0, "Ops run at once; 0: 2 (1 on a single core).")
  skip_nonfinite_steps: int = _f(0, "Leave out up to N batches with a NaN/Inf loss; 0: stop.")

  def __post_init__(self):
    _at_least(self, 1, "checkpoint_every", "keep_checkpoints", "summary_every",
              "image_summary_every")
    _at_least(self, 0, "intra_op_threads", "inter_op_threads", "skip_nonfinite_steps")
    _check(self.strategy in STRATEGIES,
           f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
    _check(self.mixed_precision in MIXED_PRECISION,
           f"mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")


# Concern -> its config class, in the order of Config's fields and of `--help`.
GROUPS = {"model": ModelConfig, "data": DataConfig, "schedule": ScheduleConfig,
          "loss": LossConfig, "run": RunConfig}
FIELDS = {f.name: group for group, cls in GROUPS.items() for f in dataclasses.fields(cls)}
# Fields that a checkpoint's state depends on besides the model: the image pool's shape.
FROZEN_FIELDS = frozenset({"image_size", "pool_size"})
# Fields added after uagit_tf 0.1, with the value that reproduces a config.json that lacks
# them: a workdir or export made before keeps its behaviour.
LEGACY_VALUES = {"residual_relu": False, "attention_refine_radius": 0.0,
                 "stage2_fake": "generated", "lambda_mask_background": 0.0,
                 "lambda_mask_object": 0.0, "cycle_object_weight": 1.0,
                 "disc_hide_background": False,
                 "disc_hide_start": 0.0, "disc_hide_end": 1.0, "disc_show_mask_above": 1.0,
                 "synthetic_variant": "standard",
                 # Added in the thirty-first session, when the default was 1.
                 "attention_lr_mult": 1.0,
                 # Its fields hold what the run trained with: "on" changes none.
                 "background_prior": "on"}

# Research options removed since, each beaten (their runs are in docs/experiments.md),
# with the value that meant "off". A config.json that names them loads without them, and
# says so in one line. The last six were the border prior's until the thirty-third
# session, when its seven remaining departures matched or beat them.
REMOVED_FIELDS = {"lambda_mask_tv": 0.0, "lambda_mask_binary": 0.0, "lambda_mask_cycle": 0.0,
                  "disc_background_swap": 0.0, "attention_polarity_ballot": "colour",
                  "attention_polarity_vote": True, "attention_polarity": "free",
                  "attention_keep_best": 0.0, "lambda_mask_hard": 0.0,
                  "lambda_mask_margin": 0.0, "lambda_mask_ring": 0.0,
                  "stage1_disc_input": "whole"}


@dataclasses.dataclass(frozen=True)
class Config:
  """The whole configuration of a run."""
  model: ModelConfig = ModelConfig()
  data: DataConfig = DataConfig()
  schedule: ScheduleConfig = ScheduleConfig()
  loss: LossConfig = LossConfig()
  run: RunConfig = RunConfig()

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "Config":
    """From `to_dict`'s layout, or the flat {"model", "train"} layout of uagit_tf <= 0.1.

    Raises:
      ValueError: unknown sections or fields, or invalid values.
    """
    unknown = sorted(set(d) - set(GROUPS) - {"train"})
    _check(not unknown, f"Unknown config sections: {unknown}")
    values = {}
    for section, fields in d.items():
      _check(isinstance(fields, dict), f"Config section {section!r} is not a mapping")
      values.update(fields)
    removed = {k: values.pop(k) for k in REMOVED_FIELDS if k in values}
    used = {k: v for k, v in removed.items() if v != REMOVED_FIELDS[k]}
    if used:
      logging.warning(
          "This config names options uagit_tf no longer has (%s); it loads without them%s. "
          "docs/experiments.md has their runs.",
          ", ".join(f"{k}={v!r}" for k, v in sorted(used.items())),
          # The one removed field that the weights' layout depended on.
          " (attention_polarity='border' nets held a polarity vote: their checkpoints do "
          "not load here; their exports still serve, and uagit_tf at commit f0c4d43 loads "
          "them)" if "attention_polarity" in used else "")
    return override(cls(), {**LEGACY_VALUES, **values})


def override(cfg: Config, overrides: dict[str, Any]) -> Config:
  """Returns `cfg` with flat field overrides (name -> value) applied to their concerns.

  Raises:
    ValueError: an unknown field, or a value its concern rejects.
  """
  unknown = sorted(set(overrides) - set(FIELDS))
  _check(not unknown, f"Unknown config fields: {unknown}")
  groups = {}
  for group in GROUPS:
    changes = {k: v for k, v in overrides.items() if FIELDS[k] == group}
    groups[group] = dataclasses.replace(getattr(cfg, group), **changes)
  return Config(**groups)


def flat(cfg: Config) -> dict[str, Any]:
  """Field name -> value over every concern (the flags' view)."""
  return {k: v for group in GROUPS for k, v in dataclasses.asdict(getattr(cfg, group)).items()}


# The paper's value of each field where the defaults depart from it (the authors' code in
# every respect docs/method.md lists, their 1x1 attention decoder included): what
# --background_prior=off sets (uagit_tf/background_prior.py). The border prior is the
# defaults: the masks' target is the pixels coloured unlike the image's border, the
# discriminators do not see border colours, the cycle loss leaves out the object the
# target holds the mask on, and the attention nets learn fast enough to follow the target,
# with a 3x3 decoder and a guided filter that put the mask's edges on the image's.
PAPER_METHOD = {"attention_decoder_kernel": 1, "attention_refine_radius": 0.0,
                "lambda_mask_background": 0.0, "lambda_mask_object": 0.0,
                "disc_hide_background": False, "attention_lr_mult": 1.0,
                "cycle_object_weight": 1.0}

# --background_prior=saliency: the paper's method and a domain classifier's saliency as
# the masks' target, with attention nets fast enough to follow it (uagit_tf/saliency.py).
SALIENCY_METHOD = {**PAPER_METHOD, "lambda_saliency": 5.0, "attention_lr_mult": 10.0}
# Each choice of --background_prior other than auto -> the fields it sets.
PRIOR_FIELDS = {"on": {}, "off": PAPER_METHOD, "saliency": SALIENCY_METHOD}

# Presets: flat overrides of the defaults.
PRESETS: dict[str, dict[str, Any]] = {
    # The paper's method, without this library's answer to backgrounds that differ between
    # the domains.
    "paper": {**PAPER_METHOD, "background_prior": "off"},
    # 32 px, thin nets, a few steps: tests and smoke runs in seconds.
    "tiny": {"ngf": 8, "ndf": 8, "n_res_blocks": 1, "attention_width": 8,
             "image_size": 32, "load_size": 36, "synthetic_train_size": 16,
             "synthetic_test_size": 4, "epochs": 2, "attention_epochs": 1, "decay_epoch": 1,
             "steps_per_epoch": 3, "pool_size": 4, "checkpoint_every": 2, "summary_every": 1,
             "image_summary_every": 2},
    # The README demo: 64 px on the built-in set, minutes on 2 CPU cores, with a one-epoch
    # attention warm-up and lr 2e-4. The built-in set's backgrounds overlap (mix 0.25), the
    # case the paper's whole-image stage 1 handles; at this budget it finds whole animals
    # (docs/experiments.md, E10).
    "demo": {"attention_refine_radius": 0.0, "lambda_mask_background": 0.0,
             "lambda_mask_object": 0.0, "disc_hide_background": False, "cycle_object_weight": 1.0,
             "attention_lr_mult": 1.0, "ngf": 16, "ndf": 32, "n_res_blocks": 4, "attention_width": 16,
             "image_size": 64, "load_size": 72, "epochs": 10, "attention_epochs": 3,
             "attention_warmup_epochs": 1, "decay_epoch": 5, "steps_per_epoch": 200,
             "lr": 2e-4, "checkpoint_every": 200, "summary_every": 20,
             "image_summary_every": 200},
}


def apply_background_prior(cfg: Config, choice: str, given: frozenset[str] = frozenset()
                           ) -> Config:
  """`cfg` with background_prior `choice`: on changes no other field; off gives each field
  of PAPER_METHOD its paper value, and saliency each of SALIENCY_METHOD its value, except
  the fields the user set: those in `given` (named on the command line) and those away
  from their default (a preset's, or a config.json's)."""
  _check(choice in PRIOR_FIELDS, f"apply_background_prior takes one of {sorted(PRIOR_FIELDS)}, "
         f"got {choice!r}")
  values, defaults = flat(cfg), flat(Config())
  changes = {k: v for k, v in PRIOR_FIELDS[choice].items()
             if k not in given and values[k] == defaults[k]}
  return override(cfg, {**changes, "background_prior": choice})


def preset(name: str, **overrides: Any) -> Config:
  """A preset's config with flat `overrides` applied.

  Raises:
    ValueError: an unknown preset or field.
  """
  _check(name in PRESETS, f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}")
  return override(Config(), {**PRESETS[name], **overrides})


def check_resumable(saved: Config, wanted: Config) -> None:
  """Raises ValueError if `wanted` cannot continue a run trained as `saved`.

  The architecture and the fields the checkpointed state depends on must match; the
  schedule (epochs, lr, ...) may change, e.g. raising `epochs` continues a run.
  """
  a, b = flat(saved), flat(wanted)
  model = {f.name for f in dataclasses.fields(ModelConfig)}
  bad = sorted(k for k in model | FROZEN_FIELDS if a[k] != b[k])
  if bad:
    diffs = ", ".join(f"{k}: workdir has {a[k]!r}, flags give {b[k]!r}" for k in bad)
    raise ValueError(
        "The workdir was trained with a different model config and cannot be resumed "
        f"with these flags ({diffs}). Use a new --workdir, or drop these flags.")


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
  except (json.JSONDecodeError, TypeError, ValueError) as e:
    raise ValueError(f"{path} is not a valid uagit_tf config: {e}") from e
