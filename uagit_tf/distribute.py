"""tf.distribute strategies for training: one device, all local devices, or several workers.

    strategy = distribute.make_strategy("mirrored")      # --strategy=mirrored
    with strategy.scope():
      ...                                                # create every variable here

`multi_worker` reads the cluster from TF_CONFIG, as TensorFlow's own launchers and
Kubernetes operators set it, e.g. for worker 0 of two on one host:

    TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]},
                "task": {"type": "worker", "index": 0}}'

Every worker computes the same global batch (the data order is a function of seed, epoch
and step) and trains on its replicas' share of it; the chief (worker 0, or the task of
type "chief") writes checkpoints, summaries and config.json, others write checkpoints to a
scratch folder that is removed at once (saving may need every worker's participation).
The workdir must be on storage every worker can read, to resume.
"""

import json
import os

from absl import logging
import tensorflow as tf

from uagit_tf import cpu
from uagit_tf.config import STRATEGIES


def make_strategy(name: str) -> tf.distribute.Strategy:
  """Creates the strategy; call before any other TensorFlow work (multi_worker needs that).

  Raises:
    ValueError: unknown name, or multi_worker without a usable TF_CONFIG.
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    cluster = tf_config()
    if not cluster.get("cluster") or "task" not in cluster:
      raise ValueError("--strategy=multi_worker needs TF_CONFIG with 'cluster' and 'task' "
                       "(see uagit_tf/distribute.py for an example); TF_CONFIG is "
                       f"{os.environ.get('TF_CONFIG', 'not set')!r}")
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
  raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")


def tf_config() -> dict:
  """TF_CONFIG parsed, or {} when unset.

  Raises:
    ValueError: TF_CONFIG is not JSON.
  """
  raw = os.environ.get("TF_CONFIG", "")
  if not raw:
    return {}
  try:
    return json.loads(raw)
  except json.JSONDecodeError as e:
    raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {raw!r}") from None


def is_chief() -> bool:
  """Whether this process writes the run's files; True without a cluster (pure Python,
  usable before the strategy exists)."""
  cfg = tf_config()
  task = cfg.get("task", {})
  kind, index = task.get("type", "worker"), int(task.get("index", 0))
  if "chief" in cfg.get("cluster", {}):
    return kind == "chief"
  return kind == "worker" and index == 0


def task_id() -> str:
  """'worker_1'-style name of this process in the cluster ('chief' for a single process)."""
  task = tf_config().get("task")
  return f"{task['type']}_{task.get('index', 0)}" if task else "chief"


def replicated_state(value, dtype=None, name: str | None = None) -> tf.Variable:
  """A non-trainable variable that every replica updates identically (the first replica's
  write is kept): step counters, pools, loss scales."""
  return tf.Variable(value, dtype=dtype, trainable=False, name=name,
                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


def replica_slice(global_batch: tf.Tensor) -> tf.Tensor:
  """This replica's contiguous share of a batch every replica holds whole (static shape)."""
  ctx = tf.distribute.get_replica_context()
  n = ctx.num_replicas_in_sync
  if n == 1:
    return global_batch
  local = global_batch.shape[0] // n
  begin = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * local
  rest = [-1 if d is None else d for d in global_batch.shape[1:]]
  return tf.slice(global_batch, tf.stack([begin] + [0] * len(rest)), [local] + rest)


def gather(local_batch: tf.Tensor) -> tf.Tensor:
  """The global batch from every replica's share, in replica order (the inverse of
  `replica_slice`)."""
  ctx = tf.distribute.get_replica_context()
  n = ctx.num_replicas_in_sync
  if n == 1:
    return local_batch
  out = ctx.all_gather(local_batch, axis=0)
  if local_batch.shape[0] is not None:  # all_gather drops the static batch size.
    out.set_shape([n * local_batch.shape[0], *local_batch.shape[1:]])
  return out


def onednn_warning() -> str | None:
  """Why TensorFlow's oneDNN kernels are off though TF_ENABLE_ONEDNN_OPTS=1, or None.

  The package sets the variable on x86 (uagit_tf/__init__.py), but TensorFlow reads it only
  as it loads: imported before uagit_tf, it runs without them.
  """
  if os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "1":
    return None
  if cpu.onednn_on() is not False:  # On, or this TensorFlow cannot tell.
    return None
  return ("TensorFlow's oneDNN kernels are off: TensorFlow was imported before uagit_tf, "
          "so TF_ENABLE_ONEDNN_OPTS=1 came too late. Import uagit_tf first, or set the "
          "variable before Python starts (training was 1.6x faster with them on a CPU "
          "without AVX-512).")


def usable_cores() -> int:
  """The CPU cores this process may run on (its affinity, which containers set)."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # Not on Linux.
    return os.cpu_count() or 1


def default_threads(cores: int) -> tuple[int, int]:
  """(intra-op, inter-op) threads for `cores`: two ops at a time, each on half the cores.

  A training step is two independent directions, so two ops can run at once; TensorFlow's
  own default gives every op all the cores *and* runs as many ops at once, so on a small
  CPU the threads contend (BUILD_NOTES "Threads": 2 cores, measured).
  """
  return max(1, cores // 2), min(2, max(1, cores))


def configure_threads(intra_op: int, inter_op: int) -> tuple[int, int]:
  """Sizes TensorFlow's CPU thread pools; 0 takes `default_threads` for this machine.

  Returns the pools' sizes. A pool the flags leave at 0 is set only if TensorFlow has not
  yet fixed it (it does when it runs its first op); explicit sizes must take effect.

  Raises:
    ValueError: an explicit size cannot take effect: this process has already run
      TensorFlow ops (the pools are fixed from then on).
  """
  threading = tf.config.threading
  chosen = default_threads(usable_cores())
  for name, wanted, default, get, put in (
      ("intra_op_threads", intra_op, chosen[0], threading.get_intra_op_parallelism_threads,
       threading.set_intra_op_parallelism_threads),
      ("inter_op_threads", inter_op, chosen[1], threading.get_inter_op_parallelism_threads,
       threading.set_inter_op_parallelism_threads)):
    if get() == (wanted or default):
      continue
    try:
      put(wanted or default)
    except RuntimeError as e:
      if not wanted:  # Already fixed by earlier TensorFlow work: leave it.
        continue
      raise ValueError(f"{name}={wanted} cannot take effect: this process has already run "
                       f"TensorFlow ops with {get() or 'default'} threads. Build the Trainer "
                       "before any other TensorFlow work (trainers.train does).") from e
  sizes = (threading.get_intra_op_parallelism_threads(),
           threading.get_inter_op_parallelism_threads())
  logging.info("TensorFlow thread pools: intra-op %s, inter-op %s (%s cores; the flags "
               "--intra_op_threads and --inter_op_threads set them)",
               sizes[0] or "default", sizes[1] or "default", usable_cores())
  return sizes
