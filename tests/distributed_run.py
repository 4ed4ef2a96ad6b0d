"""Runs a few tiny training steps under a strategy in a fresh process; saves the weights.

    python -m tests.distributed_run mirrored OUT.npz          # 2 logical CPUs vs 1 device
    TF_CONFIG=... python -m tests.distributed_run worker WORKDIR OUT.npz

A separate process because logical devices and multi-worker collectives must be set up
before TensorFlow initialises, which the pytest process has long done.
"""

import sys

import numpy as np
import tensorflow as tf

STEPS = 3  # Stage 1, stage 1, stage 2 (the tiny preset switches after 3 steps; forced here).


def run_steps(trainer) -> list[dict]:
  from uagit_tf.data import pipeline
  from uagit_tf.steps import Stage
  cfg = trainer.cfg
  data = pipeline.train_epoch(trainer.sources, cfg.data, cfg.run.seed, 0, STEPS)
  stages = [Stage.ATTENTION, Stage.ATTENTION, Stage.MASKED]
  return [trainer.train_step(a, b, s) for s, (a, b) in zip(stages, data)]


def main(mode: str, *args: str) -> None:
  from tests.conftest import tiny
  from tests.helpers import weights
  from uagit_tf import training
  cfg = tiny(batch_size=2, pool_size=2)  # A full pool by step 1: its swaps are exercised.
  if mode == "mirrored":
    # The saliency prior's classifier on top of the border prior: its step and its
    # targets under the strategy too.
    cfg = tiny(batch_size=2, pool_size=2, lambda_saliency=5.0)
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    out, = args
    single = training.Trainer(cfg, out + ".single")
    mirrored = training.Trainer(cfg, out + ".mirrored",
                                strategy=tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    assert mirrored.strategy.num_replicas_in_sync == 2
    results = {}
    for name, trainer in (("single", single), ("mirrored", mirrored)):
      losses = run_steps(trainer)
      results.update({f"{name}:{k}": v for k, v in weights(trainer.nets).items()})
      results.update({f"{name}:saliency/{i}": w.numpy()
                      for i, w in enumerate(trainer.task.saliency.classifier.weights)})
      results.update({f"{name}:loss:{i}:{k}": v for i, l in enumerate(losses)
                      for k, v in l.items()})
      results[f"{name}:pool"] = trainer.pools["b"].images.numpy()
    try:
      training.Trainer(tiny(batch_size=3), out + ".odd", strategy=mirrored.strategy)
      results["odd_batch_error"] = "none"
    except ValueError as e:
      results["odd_batch_error"] = str(e)
    np.savez(out, **results)
  elif mode == "worker":
    workdir, out = args
    from uagit_tf import config
    trainer = training.Trainer(config.override(cfg, {"strategy": "multi_worker"}), workdir)
    assert trainer.strategy.num_replicas_in_sync == 2, trainer.strategy.num_replicas_in_sync
    trainer.fit(max_steps=2, progress=False)
    np.savez(out, step=trainer.current_step, **weights(trainer.nets))
  else:
    raise ValueError(f"unknown mode {mode!r}")


if __name__ == "__main__":
  main(*sys.argv[1:])
