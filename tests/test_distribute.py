"""tf.distribute (mirrored, multi-worker), mixed precision and XLA in the training loop."""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny
from tests.helpers import ENV, start, weights
from uagit_tf import config
from uagit_tf import cpu
from uagit_tf import distribute
from uagit_tf import saliency
from uagit_tf import training
from uagit_tf import workdir as workdir_lib
from uagit_tf.data import pipeline
from uagit_tf.steps import Stage, TrainStep, learning_rate

def run_helper(*args, env=None):
  return start("tests.distributed_run", *args, env={**ENV, **(env or {})},
               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(*procs, timeout=1200):
  """Waits for every process, then fails with each failed one's output (a worker's crash
  shows up in the other as a lost peer, so one output alone can hide the cause).

  The timeout only catches a hang: the mirrored helper takes 220-250 s on two cores beside
  other work, and 300 s timed out under a CI's load once.
  """
  outputs = []
  for proc in procs:
    try:
      outputs.append(proc.communicate(timeout=timeout)[0])
    except subprocess.TimeoutExpired:
      for p in procs:
        p.kill()
      raise
  failed = [f"process {i}:\n{out[-3000:]}" for i, (p, out) in enumerate(zip(procs, outputs))
            if p.returncode]
  assert not failed, "\n".join(failed)


def weights_of(results, prefix):
  return {k[len(prefix):]: v for k, v in results.items()
          if k.startswith(prefix) and ":loss:" not in k and not k.endswith(":pool")}


def test_mirrored_on_two_devices_matches_one_device_at_the_same_global_batch(tmp_path):
  out = str(tmp_path / "mirrored.npz")
  # The kernels users get (oneDNN on x86), but where oneDNN lacks AVX-512: there its
  # rounding depends on the batch's shape enough that 3 steps apart the losses differed by
  # 1.4e-4 relative and the pooled fakes by 3e-4 (a Zen 1 EPYC, the code before and after
  # the adjoint convolutions alike; thirty-fourth session), so TensorFlow's own kernels.
  env = {} if cpu.onednn_has_avx512() else {"TF_ENABLE_ONEDNN_OPTS": "0"}
  finish(run_helper("mirrored", out, env=env))
  r = dict(np.load(out))
  single, mirrored = weights_of(r, "single:"), weights_of(r, "mirrored:")
  assert single.keys() == mirrored.keys() and len(single) > 50
  diff = np.concatenate([np.abs(single[k] - mirrored[k]).ravel() for k in single])
  # Summing two half-batch gradients instead of one batch's differs in the last bits, and
  # oneDNN's rounding depends on the batch's shape; Adam's first steps (about lr * sign(g))
  # can flip on weights whose gradient is ~0. Measured after 3 steps: 0.016% of the
  # weights more than 1e-5 apart on an AVX-512 EPYC (max 2.0e-4), 4.6% on an AVX2-only one
  # (twenty-third session). A lost replica's gradient or a wrong loss scale moves most
  # weights by whole Adam steps and the losses far beyond 1e-4.
  assert np.mean(diff > 1e-5) < 0.1, np.mean(diff > 1e-5)
  # At most every one of the 3 steps flipped: 2 * 3 steps of each network's own rate (the
  # attention nets' and the saliency classifier's are multiples of the others').
  cfg = tiny(batch_size=2, lambda_saliency=5.0)  # distributed_run's.
  for k in single:
    net = k.split("/")[0]
    lr = (saliency.CLASSIFIER_LR_MULT * cfg.schedule.lr if net == "saliency"
          else learning_rate(net, cfg.schedule, cfg.schedule.lr))
    assert np.abs(single[k] - mirrored[k]).max() <= 2 * 3 * lr + 1e-6, k
  losses = sorted(k.split(":", 1)[1] for k in r if k.startswith("single:loss:"))
  # The masks' shares above a threshold count pixels: a rounding difference may move
  # one across it (1 / 2048 of the batch, seen on a Zen 1 EPYC). Two pixels' worth.
  pixel = 1 / (cfg.data.batch_size * cfg.data.image_size**2)
  for k in losses:
    np.testing.assert_allclose(r[f"mirrored:{k}"], r[f"single:{k}"], rtol=1e-4,
                               atol=2 * pixel if "_above_" in k else 0, err_msg=k)
  # The pool saw the same global batch, in the same order, with the same draws.
  np.testing.assert_allclose(r["mirrored:pool"], r["single:pool"], atol=1e-4)
  assert "global batch and must be a multiple of the 2 replicas" in str(r["odd_batch_error"])


def free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


def test_multi_worker_two_processes_train_in_lockstep_and_only_the_chief_writes(tmp_path):
  workdir = str(tmp_path / "wd")
  config.save(tiny(batch_size=2, pool_size=2, strategy="multi_worker"), workdir)
  cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
  procs = []
  for i in range(2):
    tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
    procs.append(run_helper("worker", workdir, str(tmp_path / f"w{i}.npz"),
                            env={"TF_CONFIG": tf_config}))
  finish(*procs)
  w0, w1 = dict(np.load(tmp_path / "w0.npz")), dict(np.load(tmp_path / "w1.npz"))
  assert int(w0["step"]) == int(w1["step"]) == 2
  assert w0.keys() == w1.keys() and len(w0) > 50
  for k in w0:  # Same all-reduced gradients, same updates: bit-identical.
    np.testing.assert_array_equal(w0[k], w1[k], err_msg=k)
  # The chief wrote the checkpoints; the other worker left nothing behind.
  assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).endswith("ckpt-2")
  assert sorted(n for n in os.listdir(workdir) if n.startswith(".scratch")) == []
  # And a one-process run at the same global batch agrees (the collectives were real).
  single = training.Trainer(tiny(batch_size=2, pool_size=2), str(tmp_path / "single"))
  single.fit(max_steps=2, progress=False)
  for k, w in weights(single.nets).items():
    np.testing.assert_allclose(w0[k], w, atol=4e-4, err_msg=k)


def test_multi_worker_without_tf_config_is_a_clear_error(tmp_path, monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(ValueError, match="needs TF_CONFIG"):
    training.Trainer(tiny(strategy="multi_worker"), str(tmp_path))
  monkeypatch.setenv("TF_CONFIG", "{not json")
  with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
    training.Trainer(tiny(strategy="multi_worker"), str(tmp_path))


def test_thread_pools_that_can_no_longer_change_are_a_clear_error(tmp_path):
  tf.constant(1.0) + 1.0  # This process has run TensorFlow ops: its pools are fixed.
  current = tf.config.threading.get_intra_op_parallelism_threads()
  distribute.configure_threads(0, 0)  # Defaults: nothing to change.
  distribute.configure_threads(current, 0)  # Already so: nothing to change.
  with pytest.raises(ValueError, match=r"intra_op_threads=\d+ cannot take effect"):
    training.Trainer(tiny(intra_op_threads=current + 3), str(tmp_path))


def test_the_trainer_sizes_its_thread_pools_for_the_machine_unless_told():
  # Two ops at a time (the step's directions are independent), each on half the cores.
  assert [distribute.default_threads(n) for n in (1, 2, 4, 16)] == [(1, 1), (1, 2), (2, 2),
                                                                    (8, 2)]
  script = (
      "import sys; from absl import logging; from uagit_tf import distribute\n"
      "logging.set_verbosity('info')\n"
      "print('SIZES', *distribute.configure_threads(*map(int, sys.argv[1:])))\n")
  for flags, expected in ((("0", "0"), distribute.default_threads(distribute.usable_cores())),
                          (("3", "1"), (3, 1)), (("0", "3"), None)):
    out = subprocess.run([sys.executable, "-c", script, *flags], capture_output=True,
                         text=True, check=True)
    sizes = tuple(int(x) for x in out.stdout.split("SIZES")[1].split())
    if expected is None:  # An explicit pool wins; the other keeps the rule.
      expected = (distribute.default_threads(distribute.usable_cores())[0], 3)
    assert sizes == expected, (flags, out.stderr[-500:])
    assert "thread pools: intra-op %d, inter-op %d" % sizes in out.stderr


def first_batch(cfg):
  sources = pipeline.sources(cfg.data, "train", cfg.run.seed)
  return next(iter(pipeline.train_epoch(sources, cfg.data, cfg.run.seed, 0, 1)))


def one_step(cfg):
  keras.utils.set_random_seed(cfg.run.seed)
  return {k: float(v) for k, v in TrainStep(cfg).run(*first_batch(cfg), Stage.ATTENTION).items()}


def test_bfloat16_computes_in_bfloat16_keeps_float32_where_it_matters_and_exports_float32(
    tmp_path):
  workdir = str(tmp_path)
  cfg = tiny(mixed_precision="bfloat16")
  workdir_lib.prepare(cfg, workdir)
  trainer = training.Trainer(cfg, workdir)
  losses = trainer.fit(max_steps=2, progress=False)
  assert all(np.isfinite(v) for v in losses.values())
  gen = trainer.nets.gen["a"]
  assert gen.body[1].compute_dtype == "bfloat16"  # The first conv.
  assert {w.dtype for net in trainer.nets.by_name().values() for w in net.weights} == {
      "float32"}
  a = tf.zeros([1, 32, 32, 3])
  assert gen(a).dtype == tf.float32 and trainer.nets.att["a"](a).dtype == tf.float32
  assert trainer.nets.disc["a"](a).dtype == tf.float32
  # The policy was scoped to the networks: nothing else is left in mixed precision.
  assert keras.config.dtype_policy().name == "float32"
  # Inference and exports rebuild the networks in float32 from the same weights.
  _, nets = workdir_lib.restore_networks(workdir)
  assert nets.gen["a"].body[1].compute_dtype == "float32"
  for w32, w in zip(nets.gen["a"].weights, gen.weights):
    np.testing.assert_array_equal(w32.numpy(), w.numpy())
  x = tf.random.stateless_uniform([1, 32, 32, 3], [0, 1], -1.0, 1.0)
  assert np.mean(np.abs(nets.gen["a"](x).numpy() - gen(x).numpy())) < 0.02  # bf16 rounding.


def test_float16_loss_scale_applies_finite_steps_and_skips_overflowing_ones():
  cfg = tiny(mixed_precision="float16")
  step, (a, b) = TrainStep(cfg), first_batch(cfg)
  gen, opt, scale = step.nets.gen["a"], step.optimizers["gen_a2b"], step.loss_scales["gen"]
  assert float(scale.scale) == 2.0**15
  scale.scale.assign(1.0)  # Small enough for float16 here: the step is applied.
  # The discriminators' too: at 2^15 their first step overflowed in some draws of the
  # (unseeded) initial weights, and was skipped.
  step.loss_scales["disc"].scale.assign(1.0)
  before = [w.numpy() for w in gen.weights]
  losses = step.run(a, b, Stage.ATTENTION)
  assert all(np.isfinite(float(v)) for v in losses.values())
  assert any(not np.array_equal(w0, w.numpy()) for w0, w in zip(before, gen.weights))
  assert int(opt.iterations) == 1 and int(scale.good_steps) == 1 and float(scale.scale) == 1.0

  scale.scale.assign(3e38)  # Scaled gradients overflow: the update must be skipped.
  before = [w.numpy() for w in gen.weights]
  step.run(a, b, Stage.ATTENTION)
  for w0, w in zip(before, gen.weights):
    np.testing.assert_array_equal(w0, w.numpy())
  assert int(opt.iterations) == 1
  assert float(scale.scale) == pytest.approx(1.5e38) and int(scale.good_steps) == 0
  # The discriminators' group has its own scale and trained on.
  assert int(step.optimizers["disc_a"].iterations) == 2
  assert int(step.loss_scales["disc"].good_steps) == 2


def test_jit_compiled_step_matches_the_graph_step():
  plain = one_step(tiny())
  jit = one_step(tiny(jit_compile=True))
  assert plain.keys() == jit.keys()
  for k in plain:
    assert jit[k] == pytest.approx(plain[k], rel=1e-4, abs=1e-6), k
