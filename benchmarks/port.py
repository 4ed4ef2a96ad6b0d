"""The PyTorch port (yhlleo/uaggan) timed in its own environment, for the side-by-side
benchmarks (`port_step`: a training step; `export`: a translation).

    git clone https://github.com/yhlleo/uaggan /tmp/uaggan          # never vendored here
    python3 -m venv /tmp/torch && /tmp/torch/bin/pip install torch  # the CPU wheel will do

A script runs in the port's checkout by that environment's python: it builds the port's
`UAGGANModel` (`--model uag_gan`, its defaults but `--ngf 32`, the paper's width, on the
CPU, torch with `threads` threads) through the port's own options on random images (its
data loader is not used, so torchvision, which only that imports, may be missing), and
prints the median seconds of the timed work after warm-up.
"""

import subprocess

_SETUP = """
import statistics, sys, tempfile, time, types
import torch
torch.set_num_threads({threads})
try:
  import torchvision
except ImportError:  # Only the port's data loader, unused here, imports it.
  for name in ("torchvision", "torchvision.transforms", "torchvision.transforms.functional"):
    sys.modules[name] = types.ModuleType(name)
sys.argv = ["train.py", "--dataroot", ".", "--model", "uag_gan", "--gpu_ids", "-1",
            "--ngf", "32", "--no_dropout", "--checkpoints_dir", tempfile.mkdtemp(),
            "--display_id", "0", "--crop_size", "{size}", "--load_size", "{size}"]
from options.train_options import TrainOptions
from models import create_model
opt = TrainOptions().parse()
model = create_model(opt)
model.setup(opt)
g = torch.Generator().manual_seed(0)
real = torch.rand(1, 3, {size}, {size}, generator=g) * 2 - 1
model.set_input({{"A": real, "B": torch.rand(1, 3, {size}, {size}, generator=g) * 2 - 1,
                 "A_paths": ["a"], "B_paths": ["b"]}})
"""

_LOOP = """
times = []
for i in range({warmup} + {repeats}):
  start = time.perf_counter()
  work()
  times.append(time.perf_counter() - start)
print("PORT", statistics.median(times[{warmup}:]), torch.__version__, torch.get_num_threads())
"""

# One full optimisation step of stage 1 (both generators, attention nets and
# discriminators), as the port's train.py runs it.
STEP = """
def work():
  model.optimize_parameters(1)  # An epoch of stage 1: the attention nets train.
"""

# One image A -> B as the port's test.py translates it (eval mode, no gradients): the
# attention net's mask thresholded at --thresh, the generator, the composite.
TRANSLATE = """
model.eval()
def work():
  with torch.no_grad():
    mask = model.netG_att_A(real)
    mask = mask * (mask > model.opt.thresh).float()
    out = model.netG_img_A(real) * mask + real * (1 - mask)
  return out
"""


def median_seconds(work: str, port_dir: str | None, torch_python: str | None, size: int,
                   threads: int, warmup: int, repeats: int) -> tuple[float, str] | str:
  """(seconds, "torch VERSION, N threads") of the port's `work` (STEP or TRANSLATE), or
  why the port could not run."""
  if not (port_dir and torch_python):
    return "--port_dir and --torch_python not given"
  script = (_SETUP + work + _LOOP).format(threads=threads, size=size, warmup=warmup,
                                          repeats=repeats)
  try:
    proc = subprocess.run([torch_python, "-c", script], cwd=port_dir, capture_output=True,
                          text=True, timeout=1800)
  except (OSError, subprocess.TimeoutExpired) as e:
    return f"{type(e).__name__}: {e}"
  lines = [l for l in proc.stdout.splitlines() if l.startswith("PORT ")]
  if proc.returncode or not lines:
    return (proc.stderr.strip().splitlines() or ["no message"])[-1][:200]
  _, seconds, version, threads = lines[-1].split()
  return float(seconds), f"torch {version}, {threads} threads"
