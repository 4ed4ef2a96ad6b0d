"""Attention model vs CycleGAN baseline on the built-in data, against the quality bar.

    python -m benchmarks.quality --workdir=runs/quality --steps=4000

Trains both with the `demo` preset (64 px; its one-epoch attention warm-up applies to the
attention model, `--overrides=attention_warmup_epochs=0` gives the paper's schedule) and the
same number of steps, on the built-in data (`--background_mix=0` makes backgrounds a
perfect domain cue), evaluates both with uagit_tf.evaluation on test images of the same
data, and prints the table and whether the attention model reaches:
mask IoU >= 0.6 in both directions, background change <= half the baseline's, and
translation success >= 0.8 in both directions.
"""

import os

from absl import app
from absl import flags

from uagit_tf import config as config_lib
from uagit_tf import evaluation, training
from uagit_tf import workdir as workdir_lib
from uagit_tf.domains import DIRECTIONS
from uagit_tf.translator import Translator

flags.DEFINE_string("workdir", "runs/quality", "Folder for both runs.")
flags.DEFINE_integer("steps", 4000, "Training steps of each model (the shared budget).")
flags.DEFINE_integer("steps_per_epoch", 200, "Steps per epoch (stage switch at 30%).")
flags.DEFINE_float("background_mix", config_lib.DataConfig().synthetic_background_mix,
                   "--synthetic_background_mix of both models' data (default: the built-in "
                   "data's).")
flags.DEFINE_list("overrides", [], "Extra config fields for the attention model, k=v.")
FLAGS = flags.FLAGS


def _value(text: str):
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return {"true": True, "false": False}.get(text.lower(), text)


def train_and_evaluate(name: str, overrides: dict) -> dict:
  epochs = max(1, FLAGS.steps // FLAGS.steps_per_epoch)
  cfg = config_lib.preset("demo", epochs=epochs, attention_epochs=max(1, (3 * epochs) // 10),
                          decay_epoch=epochs // 2, steps_per_epoch=FLAGS.steps_per_epoch,
                          synthetic_background_mix=FLAGS.background_mix, **overrides)
  workdir = os.path.join(FLAGS.workdir, name)
  workdir_lib.prepare(cfg, workdir)
  trainer = training.Trainer(cfg, workdir)
  trainer.fit()
  translators = {d: Translator.from_networks(trainer.nets, d) for d in DIRECTIONS}
  return evaluation.evaluate(translators, cfg, os.path.join(workdir, "eval"))


def main(argv):
  del argv
  extra = dict(kv.split("=", 1) for kv in FLAGS.overrides)
  attention = train_and_evaluate("attention", {k: _value(v) for k, v in extra.items()})
  baseline = train_and_evaluate("cyclegan", {"attention": False})
  warmup = config_lib.preset("demo").schedule.attention_warmup_epochs
  print(f"\nbuilt-in data, background_mix={FLAGS.background_mix}, {FLAGS.steps} steps each; "
        f"attention model: demo preset (attention_warmup_epochs={warmup}, not in the paper)"
        f" + {extra or 'no overrides'}")
  for name, results in (("attention", attention), ("cyclegan (mask = all ones)", baseline)):
    print(f"\n== {name}\n{evaluation.table(results)}")
  checks = {
      "mask IoU >= 0.6 both ways": all(attention[d]["mask_iou"] >= 0.6 for d in DIRECTIONS),
      "bg change <= half the baseline's": all(
          attention[d]["background_mae"] <= 0.5 * baseline[d]["background_mae"]
          for d in DIRECTIONS),
      "success >= 0.8 both ways": all(attention[d]["success"] >= 0.8 for d in DIRECTIONS),
  }
  print("\nbar:")
  for check, ok in checks.items():
    print(f"  {'PASS' if ok else 'FAIL'}  {check}")


if __name__ == "__main__":
  app.run(main)
