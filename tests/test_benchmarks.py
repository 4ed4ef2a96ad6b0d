"""The side-by-side benchmarks' port runner (benchmarks/port.py), against a stand-in port.

The real port needs torch, which is not a dependency: a stand-in checkout and a stand-in
`torch` module record what the runner's scripts do, so the plumbing (setup, eval mode,
the timed work, the result line, failures as reasons) is checked without it.
"""

import sys
import textwrap

from benchmarks import port

_FAKE_TORCH = '''
import contextlib
import numpy as np
__version__ = "0.0-standin"
_threads = [1]
def set_num_threads(n): _threads[0] = n
def get_num_threads(): return _threads[0]
class Tensor:
  def __init__(self, a): self.a = np.asarray(a, np.float32)
  def _v(self, o): return o.a if isinstance(o, Tensor) else o
  def __mul__(self, o): return Tensor(self.a * self._v(o))
  __rmul__ = __mul__
  def __add__(self, o): return Tensor(self.a + self._v(o))
  __radd__ = __add__
  def __sub__(self, o): return Tensor(self.a - self._v(o))
  def __rsub__(self, o): return Tensor(self._v(o) - self.a)
  def __gt__(self, o): return Tensor(self.a > self._v(o))
  def float(self): return self
class Generator:
  def manual_seed(self, seed):
    self.rng = np.random.default_rng(seed)
    return self
def rand(*shape, generator): return Tensor(generator.rng.random(shape))
GRAD = [True]
@contextlib.contextmanager
def no_grad():
  GRAD[0] = False
  yield
  GRAD[0] = True
'''

_FAKE_OPTIONS = '''
import sys, types
class TrainOptions:
  def parse(self):
    assert "--ngf" in sys.argv and sys.argv[sys.argv.index("--crop_size") + 1] == "{size}"
    return types.SimpleNamespace(thresh=0.1)
'''

_FAKE_MODELS = '''
import sys, torch
class Model:
  def __init__(self, opt):
    self.opt, self.training, self.steps = opt, True, 0
  def setup(self, opt): pass
  def set_input(self, batch): assert batch["A"].a.shape == (1, 3, {size}, {size})
  def eval(self): self.training = False
  def optimize_parameters(self, epoch):
    assert self.training and torch.GRAD[0]
    self.steps += 1
  def netG_att_A(self, x):
    assert not self.training and not torch.GRAD[0], "translation must run in eval, no grad"
    return torch.Tensor(x.a[:, :1] * 0 + 0.5)
  def netG_img_A(self, x): return x
def create_model(opt):
  {body}
'''


def _standin(tmp_path, size: int, body: str = "return Model(opt)"):
  checkout, env = tmp_path / "uaggan", tmp_path / "env"
  for d in (checkout / "options", checkout / "models", env):
    d.mkdir(parents=True)
  (checkout / "options" / "__init__.py").write_text("")
  (checkout / "options" / "train_options.py").write_text(_FAKE_OPTIONS.format(size=size))
  (checkout / "models" / "__init__.py").write_text(
      _FAKE_MODELS.format(size=size, body=body))
  (env / "torch.py").write_text(_FAKE_TORCH)
  # A python that finds the stand-in torch first.
  python = tmp_path / "python"
  python.write_text(textwrap.dedent(f"""\
      #!/bin/sh
      PYTHONPATH={env} exec {sys.executable} "$@"
      """))
  python.chmod(0o755)
  return str(checkout), str(python)


def test_port_runner_times_a_step_and_a_translation(tmp_path):
  checkout, python = _standin(tmp_path, size=16)
  for work in (port.STEP, port.TRANSLATE):
    result = port.median_seconds(work, checkout, python, size=16, threads=3, warmup=1,
                                 repeats=3)
    assert isinstance(result, tuple), result
    seconds, description = result
    assert 0 <= seconds < 5
    assert description == "torch 0.0-standin, 3 threads"


def test_port_runner_says_why_it_cannot_run(tmp_path):
  assert "not given" in port.median_seconds(port.STEP, None, None, 16, 1, 1, 1)
  checkout, python = _standin(tmp_path, size=16,
                              body="raise RuntimeError('no such model here')")
  reason = port.median_seconds(port.TRANSLATE, checkout, python, 16, 1, 1, 1)
  assert isinstance(reason, str) and "no such model here" in reason
  reason = port.median_seconds(port.STEP, checkout, str(tmp_path / "missing-python"),
                               16, 1, 1, 1)
  assert isinstance(reason, str) and "FileNotFoundError" in reason
