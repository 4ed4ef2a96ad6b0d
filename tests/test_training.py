"""The paper's step (both stages, the frozen attention) and the loop around it: schedule,
exact resume, failures.

Tests of the step's arithmetic and of the loop's logic run it eagerly (the `eager` fixture,
`_one_step`): the same maths without tracing a graph per test. The traced step keeps its
own tests here (resume) and in test_distribute, test_reliability and the exports."""

import itertools
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import eagerly, tiny
from tests.helpers import make_folder_dataset, weights
from uagit_tf import background_prior
from uagit_tf import config
from uagit_tf import training
from uagit_tf import workdir as workdir_lib
from uagit_tf.data import pipeline
from uagit_tf.domains import DIRECTIONS
from uagit_tf.method import background_likeness
from uagit_tf.steps import Stage, TrainStep


def batches(cfg, n=2):
  sources = pipeline.sources(cfg.data, "train", cfg.run.seed)
  return list(pipeline.train_epoch(sources, cfg.data, cfg.run.seed, 0, n))


def iterations(step):
  return {name: int(opt.iterations) for name, opt in step.optimizers.items()}


@pytest.mark.usefixtures("eager")
def test_two_steps_of_each_stage_update_the_right_networks():
  cfg = tiny()
  step, data = TrainStep(cfg), batches(cfg)
  before = weights(step.nets)
  for a, b in data:
    losses = step.run(a, b, Stage.ATTENTION)
  after1 = weights(step.nets)
  assert all(np.isfinite(float(v)) for v in losses.values())
  assert {"gen_total", "adv_a2b", "adv_b2a", "cyc_a", "cyc_b", "disc_a", "disc_b",
          "mask_mean_a", "mask_above_tau_b", "mask_above_half_a", "mask_object_b",
          "mask_background_a"} <= set(losses)
  changed = {k.split("/")[0] for k in before if not np.array_equal(before[k], after1[k])}
  assert changed == {"gen_a2b", "gen_b2a", "att_a", "att_b", "disc_a", "disc_b"}

  for a, b in data:
    step.run(a, b, Stage.MASKED)
  after2 = weights(step.nets)
  for k in after1:
    if k.startswith("att_"):  # Stage 2: every attention weight bit-identical.
      np.testing.assert_array_equal(after1[k], after2[k], err_msg=k)
  moved = {k.split("/")[0] for k in after1 if not np.array_equal(after1[k], after2[k])}
  assert moved == {"gen_a2b", "gen_b2a", "disc_a", "disc_b"}
  assert iterations(step) == {"gen_a2b": 4, "gen_b2a": 4, "att_a": 2, "att_b": 2,
                              "disc_a": 4, "disc_b": 4}

  before = weights(step.nets)  # The warm-up: everything but the attention nets trains.
  step.run(*data[0], Stage.WARMUP)
  after = weights(step.nets)
  moved = {k.split("/")[0] for k in before if not np.array_equal(before[k], after[k])}
  assert moved == {"gen_a2b", "gen_b2a", "disc_a", "disc_b"}


def test_adjoint_convolutions_train_as_the_plain_ones():
  # Where oneDNN lacks AVX-512 the traced step computes convolutions by their adjoints
  # (adjoint.conv, whose gradients test_models checks); forced on and off here,
  # from the same weights: the same losses in both stages, the second step's after an
  # update by the first's gradients. (Weights are not compared: Adam's first steps are
  # lr * sign(gradient), which float32 rounding flips where a gradient is near 0, e.g.
  # the biases before an instance norm.)
  cfg, results = tiny(), []
  data = batches(cfg, 2)
  start = weights(TrainStep(cfg).nets)
  for adjoint in (False, True):
    step = TrainStep(cfg)
    for name, net in step.nets.by_name().items():
      net.set_weights([start[f"{name}/{i}"] for i in range(len(net.weights))])
    step.adjoint_convolutions = adjoint
    losses = [{k: float(v) for k, v in step.run(a, b, stage).items()}
              for stage in (Stage.ATTENTION, Stage.MASKED) for a, b in data]
    graph = step.function(Stage.ATTENTION).get_concrete_function(*data[0]).graph
    forward_convs = sum(op.type == "Conv2D" for op in graph.get_operations())
    results.append((losses, forward_convs))
  (plain, plain_convs), (adjoint, adjoint_convs) = results
  # Only the stride-2 convolutions and those with more outputs than inputs stay plain.
  assert 0 < adjoint_convs < plain_convs
  for ours, reference in zip(adjoint, plain):
    assert ours.keys() == reference.keys()
    for k in reference:
      assert ours[k] == pytest.approx(reference[k], rel=1e-3, abs=1e-5), k


def test_stage_two_discriminators_see_nothing_where_the_mask_is_below_tau():
  a, b = batches(tiny(), 1)[0]
  # Untrained masks sit near 0.5: put tau at their median so both sides are exercised.
  keras.utils.set_random_seed(0)
  tau = float(np.median(TrainStep(tiny()).nets.att["a"](a).numpy()))
  keras.utils.set_random_seed(0)  # The same weights, with that tau; D sees whole pixels
  step = TrainStep(tiny(mask_threshold=tau, disc_hide_background=False))  # (tested below).
  masked = step.plan(Stage.MASKED)
  out = step.direction(a, DIRECTIONS["a2b"], masked)
  below = out["mask"].numpy()[..., 0] <= tau
  fake = out["judged"].numpy()
  assert below.any() and (~below).any()  # The check is not vacuous.
  assert np.all(fake[below] == 0)
  assert np.any(fake[~below] != 0)
  real_mask = step.nets.att["b"](b)
  real_in = step.judge_input(b, real_mask, masked).numpy()
  assert np.all(real_in[real_mask.numpy()[..., 0] <= tau] == 0)
  # Stage 1, as in the paper: the whole composite goes to the discriminator.
  whole = step.plan(Stage.ATTENTION)
  np.testing.assert_array_equal(step.judge_input(b, real_mask, whole).numpy(), b.numpy())
  out1 = step.direction(a, DIRECTIONS["a2b"], whole)
  np.testing.assert_array_equal(out1["judged"].numpy(), out1["translated"].numpy())


def test_the_stages_follow_the_schedule():
  cfg = tiny(epochs=10, attention_epochs=3, decay_epoch=5, attention_warmup_epochs=1)
  assert [training.stage_of(cfg, e) for e in (0, 1, 3)] == [
      Stage.WARMUP, Stage.ATTENTION, Stage.MASKED]
  assert training.stage_of(config.override(cfg, {"attention": False}), 0) == Stage.ATTENTION


def test_learning_rate_is_constant_then_decays_linearly_to_zero():
  cfg = tiny(lr=1e-4, epochs=100, decay_epoch=50, attention_epochs=30).schedule
  assert training.learning_rate(cfg, 0) == training.learning_rate(cfg, 49) == 1e-4
  assert np.isclose(training.learning_rate(cfg, 75), 0.5e-4)
  assert training.learning_rate(cfg, 100) == 0.0


def test_stage_switch_and_plain_cyclegan():
  cfg = tiny(epochs=10, attention_epochs=3, decay_epoch=5)
  assert [training.stage_of(cfg, e) for e in (0, 2, 3, 9)] == [1, 1, 2, 2]
  plain = tiny(epochs=10, attention_epochs=3, decay_epoch=5, attention=False)
  assert training.stage_of(plain, 9) is Stage.ATTENTION


@pytest.mark.parametrize("data", ["synthetic", "folder", "saliency"])
def test_resume_reaches_the_same_weights_as_an_uninterrupted_run(tmp_path, data, request):
  # 2 epochs x 3 steps, stage 2 from step 3. The interrupted run stops at step 4
  # (a mid-epoch checkpoint, after the epoch end and the stage switch) and resumes. The
  # folder data set is read, shuffled and augmented by another pipeline than the built-in;
  # what it adds is the data's order and augmentation, so its steps run eagerly, as do
  # those of the saliency prior (its classifier's state). On the built-in data the
  # uninterrupted run is `trained_workdir` (tiny(), traced), restored.
  if data == "synthetic":
    cfg = tiny()
    straight = training.Trainer(cfg, shutil.copytree(
        request.getfixturevalue("trained_workdir"), tmp_path / "straight"))
    assert int(straight.step) == 6
  else:
    cfg = (tiny(dataset=make_folder_dataset(tmp_path / "data", n=4)) if data == "folder"
           else tiny(background_prior="saliency", attention_epochs=2))  # All stage 1.
    request.getfixturevalue("eager")
    straight = training.Trainer(cfg, str(tmp_path / "straight"))
    straight.fit(progress=False)
  expected = weights(straight.nets)

  first = training.Trainer(cfg, str(tmp_path / "resumed"))
  first.fit(max_steps=4, progress=False)
  assert first.store.latest.endswith("ckpt-4")
  first.train_step(*batches(cfg, 1)[0], Stage.MASKED)  # Trained, never saved: "killed".
  assert int(first.step) == 5
  del first
  second = training.Trainer(cfg, str(tmp_path / "resumed"))
  assert int(second.step) == 4
  second.fit(progress=False)
  assert int(second.step) == int(straight.step) == 6
  got = weights(second.nets)
  assert got.keys() == expected.keys()
  for k in expected:
    np.testing.assert_allclose(got[k], expected[k], rtol=1e-6, atol=1e-7, err_msg=k)
  for d in "ab":  # The image pools came back too.
    np.testing.assert_array_equal(second.pools[d].images.numpy(),
                                  straight.pools[d].images.numpy())
  for name, opt in straight.optimizers.items():
    assert int(second.optimizers[name].iterations) == int(opt.iterations), name
  if data == "saliency":  # Its classifier came back, and learnt on.
    for got_w, want_w in zip(second.task.saliency.classifier.weights,
                             straight.task.saliency.classifier.weights):
      np.testing.assert_allclose(got_w.numpy(), want_w.numpy(), rtol=1e-6, atol=1e-7)
    assert int(second.task.saliency.optimizer.iterations) == 6


@pytest.mark.usefixtures("eager")
def test_checkpoints_at_epoch_ends_unless_turned_off(tmp_path):
  # 2 epochs x 3 steps. Without epoch-end checkpoints: step 0, checkpoint_every's steps
  # and the end of fit (max_steps' end or the run's) remain.
  def saved_steps(workdir, **overrides):
    trainer = training.Trainer(tiny(checkpoint_every=4, keep_checkpoints=10, **overrides),
                               str(tmp_path / workdir))
    trainer.fit(max_steps=5, progress=False)
    trainer.fit(progress=False)
    return [int(p.rsplit("-", 1)[1]) for p in trainer.store.manager.checkpoints]

  assert saved_steps("each") == [0, 3, 4, 5, 6]
  assert saved_steps("off", checkpoint_each_epoch=False) == [0, 4, 5, 6]


@pytest.mark.usefixtures("eager")
def test_batches_that_run_out_stop_the_run_instead_of_spinning(tmp_path, monkeypatch):
  full = pipeline.train_batches
  monkeypatch.setattr(pipeline, "train_batches",
                      lambda *args: itertools.islice(full(*args), 4))  # 4 of 6 steps.
  trainer = training.Trainer(tiny(), str(tmp_path))
  with pytest.raises(RuntimeError, match=r"batches ran out at step 4, before step 6; the "
                                         r"last checkpoint is .*ckpt-4"):
    trainer.fit(progress=False)


@pytest.mark.usefixtures("eager")
def test_more_epochs_continue_a_finished_run(trained_workdir, tmp_path):
  workdir = str(tmp_path / "wd")
  shutil.copytree(trained_workdir, workdir)  # The shared workdir stays as it is.
  cfg = config.override(config.load(workdir), {"epochs": 3})
  workdir_lib.prepare(cfg, workdir)
  trainer = training.Trainer(cfg, workdir)
  assert int(trainer.step) == 6
  trainer.fit(progress=False)
  assert int(trainer.step) == 9


@pytest.mark.usefixtures("eager")
def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path):
  trainer = training.Trainer(tiny(), str(tmp_path))
  trainer.fit(max_steps=2, progress=False)
  saved = trainer.store.latest
  assert saved.endswith("ckpt-2")
  w = trainer.nets.gen["a"].weights[0]
  w.assign(tf.fill(w.shape, np.nan))
  with pytest.raises(training.NonFiniteLossError, match="Non-finite loss at step 3: .*adv_a2b"):
    trainer.fit(progress=False)
  assert trainer.store.latest == saved
  fresh = training.Trainer(tiny(), str(tmp_path))
  assert int(fresh.step) == 2
  assert np.isfinite(fresh.nets.gen["a"].weights[0].numpy()).all()


def test_unwritable_workdir_fails_at_start(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("x")
  with pytest.raises(ValueError, match="Cannot write to --workdir"):
    training.Trainer(tiny(), str(blocker / "sub"))


def test_tensorboard_gets_losses_lr_stage_masks_and_images(trained_workdir):
  from tensorboard.backend.event_processing import event_accumulator
  acc = event_accumulator.EventAccumulator(trained_workdir + "/logs",
                                           size_guidance={"tensors": 0})
  acc.Reload()
  tags = set(acc.Tags()["tensors"])
  assert {"loss/gen_total", "loss/disc_a", "loss/cyc_b", "train/lr", "train/stage",
          "masks/mask_mean_a", "masks/mask_above_tau_b", "translation/a2b",
          "translation/b2a"} <= tags
  stages = [float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors("train/stage")]
  assert stages[0] == 1 and stages[-1] == 2
  grid = acc.Tensors("translation/a2b")[-1].tensor_proto
  h, w = (int(x) for x in tf.make_ndarray(grid)[:2])
  assert (h, w) == (4 * 32, 4 * 32)  # 4 images x (input | mask | translated | recon).


@pytest.mark.usefixtures("eager")
def test_a_failed_checkpoint_write_names_the_cause_and_keeps_the_previous(tmp_path,
                                                                        monkeypatch):
  trainer = training.Trainer(tiny(), str(tmp_path))
  trainer.fit(max_steps=2, progress=False)
  previous = trainer.store.latest

  def full_disk(*args, **kwargs):
    raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
  monkeypatch.setattr(trainer.store.manager, "save", full_disk)
  with pytest.raises(workdir_lib.CheckpointError,
                     match=r"step 3 .*No space left on device.*still .*ckpt-2"):
    trainer.fit(max_steps=2, progress=False)
  assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")) == previous


class PoisonedSource:
  """A training source whose image `bad` is NaN: a corrupt sample mid-epoch."""

  def __init__(self, source, bad):
    self.source, self.bad, self.size = source, bad, source.size

  def load(self, index, size):
    image = self.source.load(index, size)
    return tf.where(tf.equal(index, self.bad), tf.fill(tf.shape(image), np.nan), image)


@pytest.mark.usefixtures("eager")
def test_skip_nonfinite_steps_leaves_bad_batches_out(tmp_path):
  cfg = tiny(synthetic_train_size=3, skip_nonfinite_steps=2, checkpoint_every=100)
  sources = pipeline.sources(cfg.data, "train", cfg.run.seed)
  sources = {"a": PoisonedSource(sources["a"], 1), "b": sources["b"]}
  trainer = training.Trainer(cfg, str(tmp_path / "skip"), sources)
  trainer.fit(progress=False)  # 2 epochs x 3 steps: the poisoned image comes once a epoch.
  assert int(trainer.step) == 6 and len(trainer.skipped_steps) == 2
  for net in trainer.nets.by_name().values():
    assert all(np.isfinite(w.numpy()).all() for w in net.weights)

  strict = training.Trainer(config.override(cfg, {"skip_nonfinite_steps": 0}),
                            str(tmp_path / "strict"), sources)
  with pytest.raises(training.NonFiniteLossError, match="Non-finite loss at step"):
    strict.fit(progress=False)


GENS, ATTS, DISCS = {"gen_a2b", "gen_b2a"}, {"att_a", "att_b"}, {"disc_a", "disc_b"}


def _one_step(cfg, stage):
  """Losses and weights after one step of `stage` from the seed-0 initial weights (eager:
  each case would otherwise trace its own step)."""
  keras.utils.set_random_seed(0)
  step = TrainStep(cfg)
  with eagerly():
    losses = {k: float(v) for k, v in step.run(*batches(cfg, 1)[0], stage).items()}
  return losses, weights(step.nets)


@pytest.fixture(scope="module")
def base_steps():
  return {stage: _one_step(tiny(), stage) for stage in (Stage.ATTENTION, Stage.MASKED)}


@pytest.mark.parametrize("option,value,stage,terms,nets_affected", [
    # Identity L1 (not in the paper): a loss per domain, weighted into the generators'.
    ("lambda_id", 0.5, Stage.ATTENTION, {"id_a", "id_b"}, GENS),
    # Mask priors (not in the paper), the two colour priors among them (on by default):
    # of all the nets only the attention nets feel them (stage 1's D sees whole images).
    ("lambda_mask", 0.5, Stage.ATTENTION, {"mask_l1_a", "mask_l1_b"}, ATTS),
    ("lambda_mask_background", 0.0, Stage.ATTENTION, set(), ATTS),
    ("lambda_mask_object", 0.0, Stage.ATTENTION, set(), ATTS),
    # The object's cycle counts (0 by default): the generators and the attention nets
    # (through s'') learn otherwise.
    ("cycle_object_weight", 0.2, Stage.ATTENTION, set(), GENS | ATTS),
    ("cycle_object_weight", 0.2, Stage.MASKED, set(), GENS),
    # Discriminator-side options change the discriminators and what they teach.
    ("disc_norm_stage2", True, Stage.MASKED, set(), GENS | DISCS),
    # No guided filter: other masks, so everything trains differently.
    ("attention_refine_radius", 0.0, Stage.ATTENTION, set(), GENS | ATTS | DISCS),
    # D sees the background too: everything learns from other scores.
    ("disc_hide_background", False, Stage.ATTENTION, set(), GENS | ATTS | DISCS),
    ("disc_hide_background", False, Stage.MASKED, set(), GENS | DISCS),
    # Stage 1 hides by colour alone (stage 2: test_hiding_the_background_...).
    ("disc_show_mask_above", 1.0, Stage.ATTENTION, set(), set()),
    # Stage 2 judges F(s) instead of s': the generators learn from other fakes.
    ("stage2_fake", "generated", Stage.MASKED, set(), GENS | DISCS),
    # Slower attention nets (the paper's rate); stage 2's frozen nets take no step at any
    # rate.
    ("attention_lr_mult", 1.0, Stage.ATTENTION, set(), ATTS),
    ("attention_lr_mult", 1.0, Stage.MASKED, set(), set()),
    # The saliency prior is stage 1's alone (its own test: below).
    ("lambda_saliency", 5.0, Stage.MASKED, set(), set()),
])
def test_each_option_changes_the_step_where_it_should(base_steps, option, value, stage, terms,
                                                      nets_affected):
  base, base_w = base_steps[stage]
  with_option, option_w = _one_step(tiny(**{o: value for o in option.split(",")}), stage)
  assert set(with_option) - set(base) == terms
  if terms:  # The new terms enter the generators' objective with their weight.
    extra = value * sum(with_option[t] for t in terms)
    assert with_option["gen_total"] == pytest.approx(base["gen_total"] + extra, rel=1e-5)
  # A weight only one of them holds counts as moved. A net that learns otherwise moves by about the lr (Adam's first step); another graph's
  # rounding of a near-zero gradient (1e-11 seen) does not count.
  moved = {k.split("/")[0] for k in base_w.keys() | option_w.keys()
           if k not in base_w or k not in option_w or base_w[k].shape != option_w[k].shape
           or not np.allclose(base_w[k], option_w[k], rtol=0, atol=1e-7)}
  assert moved == nets_affected


def test_the_saliency_prior_pulls_the_masks_and_trains_its_classifier(base_steps):
  base, base_w = base_steps[Stage.ATTENTION]
  keras.utils.set_random_seed(0)
  step = TrainStep(tiny(lambda_saliency=5.0))
  classifier = [w.numpy() for w in step.saliency.classifier.weights]
  with eagerly():
    losses = {k: float(v) for k, v in step.run(*batches(tiny(), 1)[0], Stage.ATTENTION).items()}
  terms = {"mask_saliency_a", "mask_saliency_b"}
  assert set(losses) - set(base) == terms | {"saliency_classifier"}
  assert all(0.0 < losses[t] < 2.0 for t in terms)
  assert losses["saliency_classifier"] == pytest.approx(np.log(2.0), abs=0.1)  # Chance.
  assert losses["gen_total"] == pytest.approx(
      base["gen_total"] + 5.0 * sum(losses[t] for t in terms), rel=1e-5)
  moved = {k.split("/")[0] for k, w in weights(step.nets).items()
           if not np.allclose(w, base_w[k], rtol=0, atol=1e-7)}
  assert moved == ATTS
  assert not any(np.array_equal(w.numpy(), c)
                 for w, c in zip(step.saliency.classifier.weights, classifier))
  # Training only: checkpointed beside the networks, nothing of it among them.
  assert {"saliency_classifier", "opt_saliency_classifier"} <= set(step.checkpointables())
  assert "domain_classifier" not in step.nets.by_name()


@pytest.mark.parametrize("prior", ["background", "object"])
def test_the_default_priors_enter_the_objective_with_their_weight(base_steps, prior):
  base, _ = base_steps[Stage.ATTENTION]
  terms, field = [f"mask_{prior}_a", f"mask_{prior}_b"], f"lambda_mask_{prior}"
  weight = getattr(config.Config().loss, field)
  assert weight > 0 and all(t in base for t in terms)
  # A share of the border-coloured pixels covered; of the others, left out.
  assert all(0.0 < base[t] < 1.0 for t in terms)
  tripled, _ = _one_step(tiny(**{field: 3.0 * weight}), Stage.ATTENTION)
  assert tripled["gen_total"] == pytest.approx(
      base["gen_total"] + 2.0 * weight * sum(base[t] for t in terms), rel=1e-5)


@pytest.mark.usefixtures("eager")
def test_the_colour_priors_are_a_balanced_l1_to_the_pixels_unlike_the_border():
  # A 6x1 image, likeness b = (1, 1, 1, 1, 0, 0): four border-coloured pixels, two others.
  step = TrainStep(tiny())
  likeness = tf.constant([1.0, 1.0, 1.0, 1.0, 0.0, 0.0])[None, :, None, None]
  def priors(mask):
    out = {"mask": tf.constant(mask)[None, :, None, None], "likeness": lambda: likeness}
    return {name: float(value) for name, _, value
            in background_prior.mask_priors(step.cfg.loss, out)}
  # The target 1 - b costs nothing; its inverse everything; each side counts as a share.
  assert priors([0.0, 0.0, 0.0, 0.0, 1.0, 1.0]) == {"mask_background": 0.0, "mask_object": 0.0}
  assert priors([1.0, 1.0, 1.0, 1.0, 0.0, 0.0]) == pytest.approx(
      {"mask_background": 1.0, "mask_object": 1.0}, rel=1e-5)
  assert priors([0.5, 0.0, 0.0, 0.0, 1.0, 0.0]) == pytest.approx(
      {"mask_background": 0.5 / 4, "mask_object": 1.0 / 2}, rel=1e-5)


def test_the_plain_cyclegan_keeps_the_whole_images_cycle():
  # Its mask is all ones, so leaving the object out would leave no cycle at all.
  plain = [_one_step(tiny(attention=False, cycle_object_weight=w), Stage.ATTENTION)[0]
           for w in (0.0, 1.0)]
  assert plain[0] == plain[1] and plain[0]["cyc_a"] > 0.01


@pytest.mark.usefixtures("eager")
def test_hiding_the_background_blanks_what_was_background_in_the_source():
  cfg = tiny(disc_hide_background=True, disc_hide_start=0.1, disc_hide_end=0.9)
  a, b = batches(cfg, 1)[0]
  step = TrainStep(cfg)
  stage1, stage2 = step.plan(Stage.ATTENTION), step.plan(Stage.MASKED)
  likeness = background_likeness(a).numpy()
  of_a = lambda: background_likeness(a)  # What `shown` takes: the likeness, when needed.
  shown = np.clip((0.9 - likeness) / 0.8, 0.0, 1.0)
  # Some pixels of this batch lie on the ramp, some below it and some above it.
  assert (likeness < 0.1).any() and (likeness > 0.9).any()
  assert ((likeness > 0.15) & (likeness < 0.85)).any()
  # A mask on the left half of each image, above disc_show_mask_above=0.5 there.
  left = np.zeros(a.shape[:3] + (1,), np.float32)
  left[:, :, : a.shape[2] // 2] = 0.6
  shown_by = lambda cfg, plan: background_prior.shown(cfg.loss, of_a, left,
                                                      plan.masked)
  np.testing.assert_allclose(shown_by(cfg, stage1).numpy(), shown, atol=1e-6)
  # Stage 2 (masks frozen) also shows every pixel its own mask puts above 0.5, hidden
  # background colours or not; here some are.
  assert (shown[:, :, : a.shape[2] // 2] < 0.5).any()
  np.testing.assert_allclose(shown_by(cfg, stage2).numpy(), np.maximum(shown, left > 0.5),
                             atol=1e-6)
  # A config.json from before the ramp (no disc_hide_start / _end) hides 1 - b as it did,
  # and one from before disc_show_mask_above hides by colour alone in stage 2 too.
  legacy = tiny(disc_hide_background=True, **{
      k: config.LEGACY_VALUES[k]
      for k in ("disc_hide_start", "disc_hide_end", "disc_show_mask_above")})
  for plan in (stage1, stage2):
    np.testing.assert_allclose(shown_by(legacy, plan).numpy(), 1.0 - likeness, atol=1e-6)
  for plan in (stage1, stage2):
    out = step.direction(a, DIRECTIONS["a2b"], plan)
    # The fake D judges (and the pool keeps) is s' times 1 - b of its *source*: painting
    # the object in the background's colours does not hide it. In stage 2, what the
    # source's own mask holds above 0.5 is shown.
    expected = shown if plan is stage1 else np.maximum(shown, out["mask"].numpy() > 0.5)
    np.testing.assert_allclose(out["shown"].numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(out["fake"].numpy(), (out["translated"] * expected).numpy(),
                               atol=1e-6)
    np.testing.assert_allclose(out["judged"].numpy(),
                               step.judge_input(out["fake"], out["mask"], plan).numpy(), atol=1e-6)
  # A source of one colour is all background: in stage 1 D sees nothing of its fake.
  flat = tf.fill(a.shape, 0.3)
  assert np.abs(step.direction(flat, DIRECTIONS["a2b"], stage1)["judged"].numpy()).max() < 1e-3
  # The plain CycleGAN sees whole images whatever the flag says.
  plain = TrainStep(tiny(attention=False, disc_hide_background=True))
  assert plain.direction(a, DIRECTIONS["a2b"], plain.plan(Stage.MASKED))["shown"] == 1.0


@pytest.mark.usefixtures("eager")
def test_mask_health_warns_once_per_epoch_about_a_dead_or_full_mask():
  from uagit_tf.summaries import MaskHealth
  health = MaskHealth(patience=3)
  healthy = {"mask_mean_a": 0.2, "mask_above_tau_a": 0.3, "mask_mean_b": 0.2,
             "mask_above_tau_b": 0.3}
  dead_a = {**healthy, "mask_mean_a": 0.01, "mask_above_tau_a": 0.0}
  both = {**dead_a, "mask_mean_b": 0.9, "mask_above_tau_b": 0.99}  # And b2a's covers all.
  assert [health.update(dead_a, 0) for _ in range(2)] == [[], []]  # Not yet 3 in a row.
  assert health.update(healthy, 0) == []  # The streak is broken.
  said = [health.update(both, 0) for _ in range(5)]
  assert [len(s) for s in said] == [0, 0, 2, 0, 0]  # Once per direction and kind...
  assert "a2b: the mask has died" in said[2][0] and "--attention_warmup_epochs" in said[2][0]
  assert "b2a: the mask covers everything (99%" in said[2][1]
  # The advice names the defaults as config has them.
  defaults = config.flat(config.Config())
  assert f"--cycle_object_weight={defaults['cycle_object_weight']}" in said[2][0]
  assert (f"--background_prior={defaults['background_prior']}" in said[2][1]
          and f"--lambda_mask_background={defaults['lambda_mask_background']}" in said[2][1]
          and f"--disc_hide_background={defaults['disc_hide_background']}" in said[2][1])
  assert len(health.update(both, 1)) == 2  # ... and epoch.


@pytest.mark.usefixtures("eager")
def test_mask_health_warns_about_a_faint_mask_whose_mean_looks_alive():
  from uagit_tf.summaries import MaskHealth
  health = MaskHealth(patience=3)
  # b2a's mask: a mean above the dead line, but no pixel above 0.5 (the held-out set's
  # dead nets: mean 0.02-0.07, every mask empty at 0.5).
  faint_b = {"mask_mean_a": 0.2, "mask_above_tau_a": 0.3, "mask_above_half_a": 0.1,
             "mask_mean_b": 0.05, "mask_above_tau_b": 0.1, "mask_above_half_b": 0.0}
  said = [health.update(faint_b, 0) for _ in range(3)]
  assert [len(s) for s in said] == [0, 0, 1]
  assert "b2a: the mask is faint (0.00% of pixels above 0.5" in said[2][0]
  assert f"--lambda_mask_object={config.flat(config.Config())['lambda_mask_object']}" in said[2][0]
  assert "--attention_lr_mult=10.0" in said[2][0]
  # A dead mask is said to be dead, not also faint.
  dead = {**faint_b, "mask_mean_b": 0.01}
  assert [len(health.update(dead, 1)) for _ in range(3)] == [0, 0, 1]
  assert all("faint" not in w for w in health.update(dead, 2) + health.update(dead, 2))
  # A small object (0.2% of the pixels above 0.5) is not faint; nor is a mask whose share
  # is not logged.
  small = {**faint_b, "mask_above_half_b": 0.002}
  assert [health.update(small, 3) for _ in range(4)] == [[], [], [], []]
  unlogged = {k: v for k, v in faint_b.items() if k != "mask_above_half_b"}
  assert [health.update(unlogged, 4) for _ in range(4)] == [[], [], [], []]
