"""`--background_prior=saliency`: the object is where a small patch tells the domains apart.

The assumption is the paper's own: both domains share their kind of background, so a
patch of background cannot say which domain its image is from, and a patch of the object
can. It says nothing about where the object is, how large it is or whether it touches the
border, so it holds for objects that fill the frame, cross the border or sit in clutter.
It fails where the backgrounds themselves tell the domains apart (every patch is then
salient, and the masks cover the background): there the border prior
(uagit_tf/background_prior.py) holds instead, and `auto` chooses between the two.

    1. A patch classifier learns real A (0) against real B (1) by cross-entropy, in stage 1,
       beside the networks (training only: nothing of it is exported). It has no
       normalisation, so each score is a function of its patch alone: with an instance
       norm every patch knew the whole image's domain and the saliency covered the
       background (docs/experiments.md, thirtieth session).
    2. Its confidence in an image's own domain, clip(2 P(own domain | patch) - 1, 0, 1),
       is the target of that image's mask: a balanced L1, the share of the target's
       background the mask covers plus the share of its object the mask leaves out, so
       a small object pulls as hard as a large one.
    3. The attention nets learn at `attention_lr_mult` times the others' rate: at the
       paper's rate the paper's attention net barely moves in a short stage 1 (its mask
       mean 0.49 -> 0.44 in 600 steps), whatever its losses say.

The classifier's patch is 7 px of the image at 64 px (one 4x4 conv and a 4x4 head): larger
training crops are average-pooled to about 64 px first, so the patch is the same share of
the crop at any size and the saliency is upsampled back (bilinear).
"""

import tensorflow as tf

from uagit_tf import config as config_lib
from uagit_tf import precision
from uagit_tf.domains import DOMAINS
from uagit_tf.models import WeightsOf
from uagit_tf.models.discriminator import PatchDiscriminator

# The classifier sees the crop at about this size (image_size // WORKING_SIZE pooling).
WORKING_SIZE = 64
# Its learning rate, times the schedule's (constant: it only trains in stage 1, before
# the schedule's decay by default).
CLASSIFIER_LR_MULT = 2.0
# Each domain's label for the classifier (its logit > 0: B).
LABELS = {"a": 0.0, "b": 1.0}
# Where each score's patch is centred, in pixels of the working size after the score's own
# position, down and right: a 4x4 "same" convolution pads 1 before and 2 after, so its
# window is centred half a pixel after its output, and the classifier has two. Left in
# place, the masks' target sat a pixel up and left of the object (fill's true masks: IoU of
# the target at 0.5, 0.808 / 0.808 against 0.839 / 0.828 aligned; docs/experiments.md,
# thirty-fifth session).
CENTRE_OFFSET = 1


def balanced_l1(mask: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
  """Mean over the batch of sum m (1 - t) / sum (1 - t) + sum (1 - m) t / sum t, per image
  (masks and targets [B, H, W, 1] in [0, 1]): the share of the target's background the
  mask covers plus the share of its object it leaves out. 0 only where m = t in {0, 1}."""
  mask, target = tf.cast(mask, tf.float32), tf.cast(target, tf.float32)
  axes = [1, 2, 3]
  covered = tf.reduce_sum(mask * (1.0 - target), axes) / (tf.reduce_sum(1.0 - target, axes) + 1.0)
  left_out = tf.reduce_sum((1.0 - mask) * target, axes) / (tf.reduce_sum(target, axes) + 1.0)
  return tf.reduce_mean(covered + left_out)


def centred(scores: tf.Tensor) -> tf.Tensor:
  """[B, h, w, C] patch scores moved CENTRE_OFFSET pixels down and right, each onto its
  patch's centre; the first rows and columns repeat the edge."""
  k = CENTRE_OFFSET
  return tf.pad(scores[:, :-k, :-k], [[0, 0], [k, 0], [k, 0], [0, 0]], "SYMMETRIC")


class SaliencyPrior(tf.Module):
  """The domain classifier, its optimizer, and the masks' targets it gives."""

  def __init__(self, cfg: config_lib.Config, name: str = "saliency"):
    super().__init__(name=name)
    self.pool = max(1, cfg.data.image_size // WORKING_SIZE)
    # A PatchGAN of no stride-2 layer and no norm: one 4x4 conv, LeakyReLU, a 4x4 head.
    self.classifier = PatchDiscriminator(cfg.model.ndf, 0, norm_first=False,
                                         name="domain_classifier")
    self.classifier(tf.zeros([1, cfg.data.image_size, cfg.data.image_size, 3]))
    self.optimizer = precision.adam(cfg.schedule, CLASSIFIER_LR_MULT * cfg.schedule.lr,
                                    self.classifier.trainable_variables)

  def checkpointables(self) -> dict[str, tf.Module]:
    return {"saliency_classifier": WeightsOf(self.classifier),
            "opt_saliency_classifier": self.optimizer}

  def logits(self, images: tf.Tensor) -> tf.Tensor:
    """[B, H/p, W/p, 1]: the classifier's patch logits (> 0: B) on images pooled by p."""
    images = tf.cast(images, tf.float32)
    if self.pool > 1:
      images = tf.nn.avg_pool2d(images, self.pool, self.pool, "VALID")
    return self.classifier(images, use_norm=False)

  def step(self, real: dict) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    """One forward pass of the classifier on real A and B, used twice: each image's
    saliency, its mask's target (the classifier's confidence in the image's own domain
    above chance, clip(2P - 1, 0, 1), [B, H, W, 1], no gradient), and one cross-entropy
    step of the classifier on A (0) against B (1). Returns (domain -> targets, its loss
    to log)."""
    targets, loss = {}, 0.0
    with tf.GradientTape() as tape:
      for d in DOMAINS:
        logits = self.logits(real[d])
        loss += 0.5 * tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
            tf.fill(tf.shape(logits), LABELS[d]), logits))
        evidence = tf.sigmoid((2.0 * LABELS[d] - 1.0) * tf.stop_gradient(logits))
        saliency = tf.clip_by_value(2.0 * evidence - 1.0, 0.0, 1.0)
        saliency = centred(saliency)
        targets[d] = tf.image.resize(saliency, tf.shape(real[d])[1:3], "bilinear")
    precision.apply_gradients(tape, loss, [self.optimizer],
                              [self.classifier.trainable_variables])
    return targets, {"saliency_classifier": loss}
