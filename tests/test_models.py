"""Networks: output shapes, parameter counts at the paper's settings, config round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from uagit_tf import config
from uagit_tf import method
from uagit_tf.models import adjoint
from uagit_tf.models import build_networks
from uagit_tf.models import layers
from uagit_tf.method import _jittered_samples, background_likeness
from uagit_tf.models.attention import AttentionNet, guided_filter
from uagit_tf.models.discriminator import PatchDiscriminator
from uagit_tf.models.generator import ResnetGenerator


def conv_params(k, cin, cout):
  return k * k * cin * cout + cout


def norm_params(c):
  return 2 * c  # Instance norm: per-channel gamma and beta.


def expected_generator_params(ngf, blocks):
  n = conv_params(7, 3, ngf) + norm_params(ngf)
  n += conv_params(3, ngf, 2 * ngf) + norm_params(2 * ngf)
  n += conv_params(3, 2 * ngf, 4 * ngf) + norm_params(4 * ngf)
  n += blocks * 2 * (conv_params(3, 4 * ngf, 4 * ngf) + norm_params(4 * ngf))
  n += conv_params(3, 4 * ngf, 2 * ngf) + norm_params(2 * ngf)  # Transposed convs.
  n += conv_params(3, 2 * ngf, ngf) + norm_params(ngf)
  return n + conv_params(7, ngf, 3)


def expected_attention_params(w, k):
  n = conv_params(7, 3, w) + norm_params(w)
  n += conv_params(3, w, 2 * w) + norm_params(2 * w)
  n += 2 * (conv_params(3, 2 * w, 2 * w) + norm_params(2 * w))
  n += conv_params(k, 2 * w, 2 * w) + norm_params(2 * w)
  n += conv_params(k, 2 * w, w) + norm_params(w)
  return n + conv_params(7 if k == 3 else 1, w, 1)  # The authors' variant: all 1x1.


def expected_discriminator_params(ndf, norm_first=True):
  widths = [3, ndf, 2 * ndf, 4 * ndf, 8 * ndf]
  n = sum(conv_params(4, a, b) + norm_params(b) for a, b in zip(widths, widths[1:]))
  return n + conv_params(4, 8 * ndf, 1) - (0 if norm_first else norm_params(ndf))


@pytest.fixture(scope="module")
def paper_nets():
  return build_networks(config.ModelConfig(), image_size=64)


def test_parameter_counts_at_paper_settings(paper_nets):
  assert paper_nets.gen["a"].count_params() == expected_generator_params(32, 9) == 2_855_811
  att = paper_nets.att["a"]
  assert att.count_params() == expected_attention_params(32, 3)
  assert sum(int(np.prod(w.shape)) for w in att.trainable_weights) == expected_attention_params(32, 3)
  assert paper_nets.disc["a"].count_params() == expected_discriminator_params(64) == 2_766_657
  # Without the norm after its first conv (--disc_norm_first=false): 2 x 64 fewer.
  colour = build_networks(config.ModelConfig(disc_norm_first=False), image_size=64)
  assert colour.disc["a"].count_params() == expected_discriminator_params(64, False) == 2_766_529


def test_output_shapes_at_paper_settings(paper_nets):
  x = tf.random.uniform([2, 256, 256, 3], -1, 1)
  y = paper_nets.gen["a"](x)
  m = paper_nets.att["a"](x)
  d = paper_nets.disc["b"](x)
  assert y.shape == (2, 256, 256, 3)
  assert m.shape == (2, 256, 256, 1)
  assert d.shape == (2, 32, 32, 1)  # 70x70 patches, three stride-2 convs.
  assert -1 <= float(tf.reduce_min(y)) and float(tf.reduce_max(y)) <= 1
  assert 0 <= float(tf.reduce_min(m)) and float(tf.reduce_max(m)) <= 1


def test_attention_decoder_kernel_one_is_the_authors_variant():
  net = AttentionNet(8, decoder_kernel=1)
  net(tf.zeros([1, 16, 16, 3]))
  assert net.count_params() == expected_attention_params(8, 1)


def test_residual_blocks_end_with_a_relu_after_the_add_unless_asked_not_to():
  x = tf.random.stateless_normal([2, 8, 8, 6], [3, 4])
  with_relu, without = layers.ResidualBlock(6), layers.ResidualBlock(6, relu_after_add=False)
  with_relu(x), without(x)
  without.set_weights(with_relu.get_weights())
  np.testing.assert_allclose(with_relu(x).numpy(), np.maximum(without(x).numpy(), 0), atol=1e-6)
  assert without(x).numpy().min() < 0  # The CycleGAN block keeps negative values.
  gen = ResnetGenerator(4, 2, residual_relu=False)
  assert [b.relu_after_add for b in gen.body if isinstance(b, layers.ResidualBlock)] == [
      False, False]
  assert ResnetGenerator.from_config(gen.get_config()).residual_relu is False


def test_init_is_normal_0_02_with_zero_bias():
  gen = ResnetGenerator(32, 9)
  gen(tf.zeros([1, 16, 16, 3]))
  kernels = [w for w in gen.weights if "kernel" in w.path]
  biases = [w for w in gen.weights if "bias" in w.path]
  values = np.concatenate([k.numpy().ravel() for k in kernels])
  assert abs(values.std() - 0.02) < 0.001 and abs(values.mean()) < 0.001
  assert all(np.all(b.numpy() == 0) for b in biases)


@pytest.mark.parametrize("cls,kwargs", [(ResnetGenerator, {"ngf": 8, "n_res_blocks": 2}),
                                        (AttentionNet, {"width": 8, "decoder_kernel": 1,
                                                        "refine_radius": 2, "refine_eps": 0.1}),
                                        (PatchDiscriminator, {"ndf": 8})])
def test_get_config_rebuilds_the_same_architecture(cls, kwargs):
  net = cls(**kwargs)
  net(tf.zeros([1, 16, 16, 3]))
  clone = cls.from_config(net.get_config())
  clone(tf.zeros([1, 16, 16, 3]))
  assert clone.count_params() == net.count_params()
  for k, v in kwargs.items():
    assert clone.get_config()[k] == v


def test_discriminator_without_its_first_norm_sees_how_bright_an_image_is():
  # An image and the same image at 0.3 of its level (times a dim mask): normalised right
  # after the first conv (biases 0 at initialisation), D scores them alike; without that
  # norm it does not.
  # (Alike up to the norm's epsilon.)
  keras.utils.set_random_seed(1)
  image = tf.random.stateless_uniform([1, 32, 32, 3], [5, 6], -1.0, 1.0)
  authors, ours = PatchDiscriminator(8, norm_first=True), PatchDiscriminator(8, norm_first=False)
  change = {name: np.abs(d(image).numpy() - d(0.3 * image).numpy()).max()
            for name, d in (("authors", authors), ("ours", ours))}
  assert change["authors"] < 0.01 and change["ours"] > 0.03, change
  assert ours.get_config()["norm_first"] is False and ours.norms[0] is None


def test_discriminator_without_norm_differs_and_keeps_shape():
  disc = PatchDiscriminator(8)
  x = tf.random.uniform([1, 32, 32, 3], -1, 1)
  with_norm, without = disc(x), disc(x, use_norm=False)
  assert with_norm.shape == without.shape == (1, 4, 4, 1)
  assert not np.allclose(with_norm.numpy(), without.numpy())


def test_instance_norm_normalises_each_channel_of_each_image():
  from uagit_tf.models.layers import instance_norm
  x = tf.random.normal([2, 8, 8, 4]) * 5 + 3
  y = instance_norm()(x).numpy()
  np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-5)
  np.testing.assert_allclose(y.std(axis=(1, 2)), 1, atol=1e-3)


def test_plain_cyclegan_has_no_attention_nets():
  nets = build_networks(config.ModelConfig(ngf=4, ndf=4, n_res_blocks=1, attention=False), 16)
  assert nets.att == {}
  assert sorted(nets.by_name()) == ["disc_a", "disc_b", "gen_a2b", "gen_b2a"]


def receptive_field(n_layers):
  """Of 4x4 convs: n_layers with stride 2, then two with stride 1 (the last is the head)."""
  rf, jump = 1, 1
  for stride in [2] * n_layers + [1, 1]:
    rf += 3 * jump
    jump *= stride
  return rf


@pytest.mark.parametrize("n_layers,rf,out", [(1, 16, 32), (2, 34, 16), (3, 70, 8)])
def test_discriminator_depth_sets_the_patch_size(n_layers, rf, out):
  assert receptive_field(n_layers) == rf
  disc = PatchDiscriminator(8, n_layers)
  assert disc(tf.zeros([1, 64, 64, 3])).shape == (1, out, out, 1)
  widths = [3] + [8 * min(2**i, 8) for i in range(n_layers + 1)]
  expected = sum(conv_params(4, a, b) + norm_params(b) for a, b in zip(widths, widths[1:]))
  assert disc.count_params() == expected + conv_params(4, widths[-1], 1)


def test_instance_norm_equals_keras_group_normalization_with_one_group_per_channel():
  x = tf.random.stateless_normal([2, 9, 7, 5], [1, 2]) * 3.0 + 1.5
  keras_norm = keras.layers.GroupNormalization(groups=-1, epsilon=1e-5)
  ours = layers.instance_norm()
  keras_norm.build(x.shape)
  ours.build(x.shape)
  gamma = tf.random.stateless_normal([5], [3, 4])
  beta = tf.random.stateless_normal([5], [5, 6])
  for norm in (keras_norm, ours):
    norm.gamma.assign(gamma)
    norm.beta.assign(beta)
  np.testing.assert_allclose(ours(x).numpy(), keras_norm(x).numpy(), atol=1e-5)
  # Each (image, channel) comes out with the affine's mean and scale.
  y = ours(x).numpy()
  np.testing.assert_allclose(y.mean(axis=(1, 2)), np.broadcast_to(beta, [2, 5]), atol=1e-5)
  assert [w.name for w in ours.weights] == [w.name for w in keras_norm.weights]
  # The written-out gradient equals Keras' autodiff, for the input and both weights.
  upstream = tf.random.stateless_normal(x.shape, [7, 8])
  grads = []
  for norm in (keras_norm, ours):
    with tf.GradientTape() as tape:
      tape.watch(x)
      loss = tf.reduce_sum(norm(x) * upstream)
    grads.append(tape.gradient(loss, [x, norm.gamma, norm.beta]))
  for want, got in zip(*grads):
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-4)


def test_instance_norm_gradient_under_bfloat16_and_dynamic_shapes():
  from uagit_tf import precision
  x = tf.random.stateless_normal([2, 12, 10, 4], [1, 2]) * 3.0 + 20.0  # Large mean.
  upstream = tf.random.stateless_normal(x.shape, [3, 4])
  norms = {}
  for policy in ("none", "bfloat16"):
    with precision.policy_scope(policy):
      norms[policy] = layers.instance_norm()
    norms[policy].build(x.shape)
    norms[policy].gamma.assign(tf.random.stateless_normal([4], [5, 6]))

  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 4])] * 2)
  def input_grad_f32(x, upstream):
    with tf.GradientTape() as tape:
      tape.watch(x)
      loss = tf.reduce_sum(norms["none"](x) * upstream)
    return tape.gradient(loss, x)

  want = input_grad_f32(x, upstream).numpy()
  # The gradient of a normalised input sums to ~0 over each image and channel.
  np.testing.assert_allclose(want.sum(axis=(1, 2)), 0, atol=1e-3)
  norms["bfloat16"].gamma.assign(norms["none"].gamma)
  xb = tf.cast(x, tf.bfloat16)
  with tf.GradientTape() as tape:
    tape.watch(xb)
    y = norms["bfloat16"](xb)
    loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
  got = tape.gradient(loss, xb)
  assert y.dtype == got.dtype == tf.bfloat16
  # bfloat16 keeps 8 bits: within 2% of the largest gradient despite the mean of 20.
  scale = np.abs(want).max()
  np.testing.assert_allclose(tf.cast(got, tf.float32).numpy() / scale, want / scale, atol=0.02)


@pytest.mark.parametrize("pad", [1, 3])
def test_reflection_pad_equals_tf_pad_reflect_with_static_and_dynamic_shapes(pad):
  x = tf.random.stateless_normal([2, 9, 6, 3], [7, 8])
  want = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
  layer = layers.ReflectionPad2D(pad)
  np.testing.assert_array_equal(layer(x), want)
  dynamic = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, 3])])
  np.testing.assert_array_equal(dynamic(x), want)
  assert layer.compute_output_shape(x.shape) == tuple(want.shape)
  # Same gradients: every padded copy sends its gradient back to its source pixel.
  weights = tf.random.stateless_normal(want.shape, [9, 10])
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    ours = tf.reduce_sum(layer(x) * weights)
    mirrored = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    reference = tf.reduce_sum(mirrored * weights)
  np.testing.assert_allclose(tape.gradient(ours, x), tape.gradient(reference, x), atol=1e-5)


@pytest.mark.parametrize("kernel,padding", [(1, "valid"), (3, "same"), (4, "valid"),
                                            (7, "valid")])
def test_adjoint_conv_gives_the_convolution_and_its_gradients(kernel, padding):
  # Fewer output than input channels (the adjoint's weight gradient) and more (the plain).
  for c_in, c_out in [(6, 2), (3, 5)]:
    x = tf.random.stateless_normal([2, 11, 9, c_in], [1, kernel])
    w = tf.random.stateless_normal([kernel, kernel, c_in, c_out], [2, kernel])
    with tf.GradientTape(persistent=True) as tape:
      tape.watch([x, w])
      want = tf.nn.conv2d(x, w, 1, padding.upper())
      got = adjoint.conv(x, w, padding)
      # A loss whose gradient differs at every output pixel.
      losses = [tf.reduce_sum(y * tf.sin(y)) for y in (want, got)]
    assert got.shape == want.shape
    pairs = [(got, want), *zip(tape.gradient(losses[1], [x, w]),
                               tape.gradient(losses[0], [x, w]))]
    for ours, reference in pairs:
      scale = np.abs(reference).max()
      np.testing.assert_allclose(ours / scale, reference / scale, atol=2e-5)


def test_adjoint_forward_takes_the_stride_one_convolutions_with_no_more_outputs():
  x = tf.random.stateless_normal([1, 12, 12, 6], [3, 4])
  convs = {"fewer outputs": layers.conv(2, 4), "as many, same": layers.conv(6, 3, padding="same"),
           "more outputs": layers.conv(8, 3), "stride 2": layers.conv(2, 3, strides=2),
           "even kernel, same": layers.conv(2, 4, padding="same")}

  def op_types(conv):
    graph = tf.function(conv).get_concrete_function(tf.TensorSpec(x.shape)).graph
    return {op.type for op in graph.get_operations()}

  for name, conv in convs.items():
    plain, plain_ops = conv(x), op_types(conv)
    with adjoint.forward():
      by_adjoint, adjoint_ops = conv(x), op_types(conv)
    assert "Conv2D" in plain_ops and "Conv2DBackpropInput" not in plain_ops, name
    if name in ("fewer outputs", "as many, same"):
      assert "Conv2D" not in adjoint_ops and "Conv2DBackpropInput" in adjoint_ops, name
    else:
      assert adjoint_ops == plain_ops, name
    np.testing.assert_allclose(by_adjoint, plain, atol=1e-5, err_msg=name)
  assert not adjoint._switch["on"]  # The block restores the switch.
  with pytest.raises(ValueError, match=r"'same' with an odd kernel; got 'same' with a 4x4"):
    adjoint.conv(x, tf.zeros([4, 4, 6, 2]), "same")


def test_reflection_pad_rejects_sides_too_short_to_mirror():
  with pytest.raises(ValueError, match=r"reflection padding by 3 needs sides longer than 3"):
    layers.ReflectionPad2D(3)(tf.zeros([1, 3, 8, 1]))


def _scene(background, blob, size=32):
  """[1, size, size, 3] in [-1, 1]: an RGB background (one colour, or a list of vertical
  stripes' colours) with a square blob of colour `blob`; and the blob's mask."""
  colours = np.array(background, np.float32).reshape(-1, 3)
  image = colours[(np.arange(size) * len(colours)) // size][None, :, :] * np.ones([size, 1, 1])
  inside = np.zeros([size, size], bool)
  inside[size // 4:size // 2, size // 4:size // 2] = True
  image[inside] = blob
  return tf.constant(image[None] * 2.0 - 1.0, tf.float32), inside


def test_background_likeness_scores_the_borders_colours_1_and_an_inner_colour_0():
  # Two background colours (stripes across the image, both on the border) and a red blob.
  images, inside = _scene([[0.2, 0.5, 0.2], [0.8, 0.7, 0.4]], [0.6, 0.1, 0.1])
  likeness = background_likeness(images).numpy()[0, ..., 0]
  assert likeness.shape == (32, 32)
  edge = np.zeros_like(inside)  # Bilinear resizing blurs the blob's rim.
  edge[6:18, 6:18] = True
  edge[10:14, 10:14] = False
  assert likeness[~edge & ~inside].min() > 0.95
  assert likeness[inside & ~edge].max() < 0.05
  # A blob of a border colour is background-like wherever it is: its likeness is the
  # colour's share of the border samples over its share of all samples, squared, clipped to
  # 1. Here the blob (1/16 of the image) makes the second colour more common inside than on
  # the border.
  same, inside = _scene([[0.2, 0.5, 0.2], [0.8, 0.7, 0.4]], [0.8, 0.7, 0.4])
  np.testing.assert_allclose(background_likeness(same).numpy()[0, ..., 0][inside],
                             (0.5 / (0.5 + 1 / 16)) ** 2, rtol=1e-4)
  np.testing.assert_allclose(background_likeness(same, power=1.0).numpy()[0, ..., 0][inside],
                             0.5 / (0.5 + 1 / 16), rtol=1e-4)
  # Colours only; the image gets no gradient, and large images are scored at 64 px.
  with tf.GradientTape() as tape:
    tape.watch(images)
    total = tf.reduce_sum(background_likeness(images))
  assert tape.gradient(total, images) is None
  big = tf.image.resize(images, [128, 96], method="nearest")
  assert background_likeness(big).shape == (1, 128, 96, 1)


def test_background_likeness_keeps_a_fine_textures_colours():
  # Mauve bricks with 1-pixel pale mortar every 8 pixels (a brick wall), a teal blob. The
  # mortar's colour is on the border, so it is background, however thin (averaged over
  # cells, it matched no cell: 0).
  size = 64
  image = np.ones([size, size, 3], np.float32) * [0.55, 0.36, 0.45]
  image[::8] = image[:, ::8] = [0.86, 0.84, 0.80]
  image[20:40, 24:44] = [0.10, 0.62, 0.60]
  likeness = background_likeness(tf.constant(image[None] * 2.0 - 1.0)).numpy()[0, ..., 0]
  mortar = np.zeros([size, size], bool)
  mortar[::8] = mortar[:, ::8] = True
  mortar[16:44, 20:48] = False  # Away from the blob's blurred rim.
  assert likeness[mortar].min() > 0.9 and likeness[~mortar][:64].min() > 0.9
  assert likeness[22:38, 26:42].max() < 0.05


def test_jittered_samples_take_one_pixel_of_each_cell_spread_over_the_cell():
  x = tf.random.stateless_uniform([2, 64, 64, 3], [3, 4])
  samples = _jittered_samples(x, 32).numpy()
  blocks = x.numpy().reshape(2, 32, 2, 32, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 32, 32, 4, 3)
  hits = np.all(np.isclose(blocks, samples[:, :, :, None]), axis=-1)  # [2, 32, 32, 4]
  assert (hits.sum(-1) == 1).all()
  # Every position in the cell is used, about a quarter of the time each.
  assert np.all(np.abs(hits[0].reshape(-1, 4).mean(0) - 0.25) < 0.05)


def test_area_resize_is_tfs_area_resize_written_for_xla():
  x = tf.random.stateless_uniform([2, 36, 52, 3], [1, 2])
  for size in [(16, 16), (12, 13), (36, 52)]:
    np.testing.assert_allclose(method._area_resize(x, *size).numpy(),
                               tf.image.resize(x, size, method="area").numpy(), atol=1e-6)


def test_covered_share_is_the_share_of_the_weighted_pixels_the_mask_covers():
  background = np.zeros([2, 8, 8, 1], np.float32)
  background[:, :4] = 1.0  # The top half is background.
  mask = np.zeros_like(background)
  mask[0, :2] = 1.0  # Image 0 covers half of it; image 1 only the rest of the image.
  mask[1, 4:] = 1.0
  np.testing.assert_allclose(method.covered_share(tf.constant(mask), tf.constant(background)),
                             (0.5 + 0.0) / 2, rtol=1e-5)
  # The object prior's use: the share of the object pixels a mask leaves out, where an
  # image with (almost) no object pixels weighs as if it had min_weight of its pixels.
  objects = np.zeros_like(background)
  objects[0, 4:] = 1.0  # Image 0: the bottom half is object; image 1: one pixel is.
  objects[1, 7, 7] = 1.0
  empty = np.zeros_like(background)  # Nothing masked: everything left out.
  left_out = method.covered_share(1.0 - tf.constant(empty), tf.constant(objects),
                                  min_weight=0.25)
  np.testing.assert_allclose(left_out, (1.0 + 1.0 / 16) / 2, rtol=1e-5)
  np.testing.assert_allclose(method.covered_share(1.0 - tf.constant(empty), tf.constant(objects)),
                             1.0, rtol=1e-5)


def _reference_guided_filter(mask, images, radius, eps):
  """He et al.'s colour guided filter with a general 3x3 solve, written as in the paper."""
  guide, box = (images + 1.0) / 2.0, lambda t: tf.nn.avg_pool2d(t, 2 * radius + 1, 1, "SAME")
  mean_i, mean_p = box(guide), box(mask)
  outer = tf.reshape(guide[..., :, None] * guide[..., None, :], [*guide.shape[:3], 9])
  sigma = (tf.reshape(box(outer), [*guide.shape[:3], 3, 3])
           - mean_i[..., :, None] * mean_i[..., None, :] + eps * tf.eye(3))
  a = tf.linalg.solve(sigma, (box(guide * mask) - mean_i * mean_p)[..., None])[..., 0]
  b = mean_p - tf.reduce_sum(a * mean_i, axis=-1, keepdims=True)
  return tf.clip_by_value(tf.reduce_sum(box(a) * guide, -1, keepdims=True) + box(b), 0.0, 1.0)


@pytest.mark.parametrize("radius,eps", [(1, 0.01), (3, 0.001)])
def test_guided_filter_equals_the_general_solve(radius, eps):
  images = tf.random.stateless_uniform([2, 24, 20, 3], [1, 2], -1.0, 1.0)
  mask = tf.random.stateless_uniform([2, 24, 20, 1], [5, 6])
  np.testing.assert_allclose(guided_filter(mask, images, radius, eps).numpy(),
                             _reference_guided_filter(mask, images, radius, eps).numpy(),
                             atol=2e-5)


def test_guided_filter_smooths_the_mask_within_colour_regions_and_not_across_their_edges():
  # A red square on a blue background; the mask covers the square's left 10 columns.
  images = np.full([1, 32, 32, 3], [-0.8, -0.6, 0.8], np.float32)
  images[:, 8:24, 8:24] = [0.8, -0.6, -0.8]
  mask = np.zeros([1, 32, 32, 1], np.float32)
  mask[:, 8:24, 8:18] = 1.0
  refined = guided_filter(tf.constant(mask), tf.constant(images), 4, 1e-3).numpy()[0, ..., 0]
  blurred = tf.nn.avg_pool2d(tf.nn.avg_pool2d(mask, 9, 1, "SAME"), 9, 1, "SAME")[0, ..., 0]
  outside = np.ones([32, 32], bool)
  outside[8:24, 8:24] = False
  # Across the square's edges nothing leaks (a box blur of the same reach leaks a lot) ...
  assert refined[outside].max() < 0.01 and blurred.numpy()[outside].max() > 0.3
  # ... within the square the mask spreads as far as the windows reach, and the part that
  # was on stays mostly on.
  assert (refined[8:24, 18:22] > 0.1).all() and refined[8:24, 8:12].min() > 0.85
  # A constant mask is a fixed point.
  flat = guided_filter(tf.fill([1, 32, 32, 1], 0.3), tf.constant(images), 4, 1e-3)
  np.testing.assert_allclose(flat.numpy(), 0.3, atol=1e-5)


def test_attention_refine_radius_refines_the_nets_mask_and_the_image_gets_no_gradient():
  x = tf.random.stateless_uniform([2, 32, 32, 3], [3, 4], -1.0, 1.0)
  plain = AttentionNet(width=8)
  unrefined = plain(x)
  refined = AttentionNet.from_config({**plain.get_config(), "refine_radius": 2})
  refined(x)
  refined.set_weights(plain.get_weights())
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    mask = refined(x)
    total = tf.reduce_sum(mask * tf.random.stateless_uniform(mask.shape, [7, 8]))
  np.testing.assert_allclose(mask.numpy(), guided_filter(unrefined, x, 2, 0.01).numpy(), atol=1e-5)
  assert any(np.abs(g.numpy()).sum() > 0
             for g in tape.gradient(total, refined.trainable_weights))
  # The image reaches the mask through the net, not through the guide: the gradient equals
  # the one through the net with the guide held fixed.
  with tf.GradientTape() as held:
    held.watch(x)
    fixed = tf.reduce_sum(guided_filter(plain(x), tf.stop_gradient(x), 2, 0.01)
                          * tf.random.stateless_uniform(mask.shape, [7, 8]))
  np.testing.assert_allclose(tape.gradient(total, x).numpy(), held.gradient(fixed, x).numpy(),
                             atol=1e-5)
  with pytest.raises(ValueError, match="refine"):
    AttentionNet(refine_radius=-1)


def test_attention_refine_radius_is_a_share_of_the_training_size():
  cfg = config.ModelConfig(ngf=4, ndf=4, n_res_blocks=1, attention_width=4,
                           attention_refine_radius=1 / 16, attention_refine_eps=0.02)
  for size, radius in [(32, 2), (64, 4), (256, 16)]:
    att = build_networks(cfg, size, discriminators=False).att["a"]
    assert (att.refine_radius, att.refine_eps) == (radius, 0.02)
  assert build_networks(config.ModelConfig(ngf=4, n_res_blocks=1, attention_width=4,
                                           attention_refine_radius=0), 32,
                        discriminators=False).att["b"].refine_radius == 0
  with pytest.raises(ValueError, match="attention_refine"):
    config.ModelConfig(attention_refine_radius=0.7)
