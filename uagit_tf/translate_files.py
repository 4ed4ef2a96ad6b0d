"""Translates image files with a trained workdir and writes PNGs and an index.html.

    python -m trainers.translate --workdir=runs/demo --input=photos/ --output=out/ --direction=a2b

Each input is translated at its own resolution. Per input `x.jpg` (sub-folders kept):
`x_input.png`, `x_mask.png` (the soft mask, 0-255) and `x_translated.png`.
"""

import html
import os

from absl import logging
import tensorflow as tf

from uagit_tf.data import folders
from uagit_tf.pixels import to_uint8
from uagit_tf.translator import Translator


def _write_png(path: str, image: tf.Tensor) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tf.io.write_file(path, tf.io.encode_png(image))


def translate_files(translator: Translator, input_path: str, output_dir: str) -> list[dict]:
  """Translates one file or every image below a folder.

  Args:
    translator: the direction to apply.
    input_path: an image file, or a folder searched recursively.
    output_dir: created if needed.
  Returns:
    One dict per translated file: input, and the written input/mask/translated paths.
  Raises:
    ValueError: the input is missing, holds no image, or (a single file) is unreadable.
  """
  if os.path.isdir(input_path):
    paths, root = folders.list_images(input_path), input_path
    if not paths:
      raise ValueError(f"No image files ({', '.join(folders.IMAGE_EXTENSIONS)}) "
                       f"below {input_path}")
  elif os.path.isfile(input_path):
    paths, root = [input_path], os.path.dirname(input_path)
  else:
    raise ValueError(f"--input={input_path!r} does not exist")

  run = tf.function(translator.__call__, reduce_retracing=True)
  results, failed = [], []
  for i, path in enumerate(paths):
    try:
      image = folders.read_image(path)
    except ValueError as e:
      if len(paths) == 1:
        raise
      logging.warning("Skipping %s", e)
      failed.append(path)
      continue
    out = run(image[None] * 2.0 - 1.0)
    stem = os.path.splitext(os.path.relpath(path, root))[0]
    files = {kind: os.path.join(output_dir, f"{stem}_{kind}.png")
             for kind in ("input", "mask", "translated")}
    _write_png(files["input"], to_uint8(image, 0.0))
    _write_png(files["mask"], to_uint8(out["mask"][0], 0.0))
    _write_png(files["translated"], to_uint8(out["translated"][0]))
    mask = out["mask"].numpy()
    results.append({"source": path, **files, "mask_mean": float(mask.mean())})
    logging.info("[%d/%d] %s (mask mean %.3f)", i + 1, len(paths), path, mask.mean())
  if failed:
    logging.warning("%d of %d file(s) could not be read: %s", len(failed), len(paths),
                    ", ".join(failed[:5]))
  if not results:
    raise ValueError(f"None of the {len(paths)} image(s) below {input_path} could be read")
  write_index(results, output_dir)
  return results


def write_index(results: list[dict], output_dir: str, title: str = "uagit_tf translations"
                ) -> str:
  """Writes output_dir/index.html: one row per image, input | mask | translated."""
  rows = []
  for r in results:
    cells = "".join(
        f'<td><img src="{html.escape(os.path.relpath(r[k], output_dir))}"></td>'
        for k in ("input", "mask", "translated"))
    rows.append(f"<tr><td>{html.escape(os.path.basename(r['source']))}<br>"
                f"mask mean {r['mask_mean']:.3f}</td>{cells}</tr>")
  page = (f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
          "<style>img{max-width:320px;image-rendering:pixelated}td{padding:4px}</style>"
          f"<h1>{html.escape(title)}</h1><table><tr><th>file</th><th>input</th><th>mask</th>"
          f"<th>translated</th></tr>{''.join(rows)}</table>\n")
  path = os.path.join(output_dir, "index.html")
  with open(path, "w") as f:
    f.write(page)
  return path
