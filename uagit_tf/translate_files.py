"""Translates image files with a trained workdir and writes PNGs and an index.html.

    python -m trainers.translate --workdir=runs/demo --input=photos/ --output=out/ --direction=a2b

Each input is translated at its own resolution (large ones in tiles, see
`translator.Translator.tiled`). Per input `x.jpg` (sub-folders kept): `x_input.png`,
`x_mask.png` (the soft mask, 0-255) and `x_translated.png`; inputs whose names differ only
in the extension keep it (`x_jpg_*.png`, `x_png_*.png`). Nothing the user owns is written
over: the output folder may not be the input folder or inside it, and a file already there
that an earlier translation did not write (listed in OUTPUT/.uagit_outputs.json) stops the
command before any work.
"""

import collections
import html
import json
import os

from absl import logging
import tensorflow as tf

from uagit_tf.data import folders
from uagit_tf.pixels import to_uint8
from uagit_tf.translator import Translator

KINDS = ("input", "mask", "translated")
INDEX = "index.html"
MANIFEST = ".uagit_outputs.json"  # The files earlier translations wrote here.


def _write_png(path: str, image: tf.Tensor) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tf.io.write_file(path, tf.io.encode_png(image))


def _inside(path: str, folder: str) -> bool:
  path, folder = os.path.realpath(path), os.path.realpath(folder)
  return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def plan(input_path: str, output_dir: str) -> list[dict]:
  """The inputs and the files each will write; checks everything before any work.

  Returns:
    One dict per input image: "source" and a path per kind (input, mask, translated).
  Raises:
    ValueError: a missing or empty input, an output that is a file, inside the input
      folder, not writable, or that holds files of the user's that would be written over.
  """
  if os.path.isdir(input_path):
    paths, root = folders.list_images(input_path), input_path
    if not paths:
      raise ValueError(f"No image files ({', '.join(folders.IMAGE_EXTENSIONS)}) "
                       f"below {input_path}")
    if _inside(output_dir, input_path):
      raise ValueError(f"--output={output_dir!r} is the input folder or inside it: the "
                       "outputs would mix with (and be read as) inputs. Pick another folder.")
  elif os.path.isfile(input_path):
    paths, root = [input_path], os.path.dirname(input_path)
  else:
    raise ValueError(f"--input={input_path!r} does not exist")
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise ValueError(f"--output={output_dir!r} is a file; give a folder.")
  try:
    os.makedirs(output_dir, exist_ok=True)
    probe = os.path.join(output_dir, f".write_test_{os.getpid()}")
    with open(probe, "w"):
      pass
    os.remove(probe)
  except OSError as e:
    raise ValueError(f"Cannot write to --output={output_dir!r}: {e.strerror}") from None

  stems = [os.path.splitext(os.path.relpath(p, root)) for p in paths]
  counts = collections.Counter(stem.lower() for stem, _ in stems)
  outputs = []
  for path, (stem, ext) in zip(paths, stems):
    if counts[stem.lower()] > 1:  # x.jpg and x.png: keep the extension in the name.
      stem = f"{stem}_{ext.lstrip('.').lower()}"
    outputs.append({"source": path, **{k: os.path.join(output_dir, f"{stem}_{k}.png")
                                       for k in KINDS}})
  ours = set(_manifest(output_dir))
  taken = [f for o in outputs for f in (o[k] for k in KINDS) if os.path.exists(f)]
  taken += [os.path.join(output_dir, INDEX)] * os.path.exists(os.path.join(output_dir, INDEX))
  theirs = [f for f in taken if os.path.relpath(f, output_dir) not in ours]
  if theirs:
    raise ValueError(f"{len(theirs)} output file(s) would replace files in {output_dir} "
                     f"that no translation wrote, e.g. {theirs[0]}. Pick another --output.")
  return outputs


def _manifest(output_dir: str) -> list[str]:
  try:
    with open(os.path.join(output_dir, MANIFEST)) as f:
      return list(json.load(f))
  except (OSError, ValueError):
    return []


def translate_files(translator: Translator, outputs: list[dict], output_dir: str,
                    tile: int = 0) -> list[dict]:
  """Translates the inputs of `plan(...)` and writes their files and index.html.

  Args:
    translator: the direction to apply.
    outputs: from `plan(input_path, output_dir)`.
    output_dir: the same folder as given to `plan`.
    tile: images with more than tile^2 pixels are translated in tiles of that side
      (`Translator.tiled`); 0 picks `translator.DEFAULT_TILE`.
  Returns:
    The entries of `outputs` that were translated, each with its "mask_mean".
  Raises:
    ValueError: a single input is unreadable, or none of them is; or an image too large
      to translate even in tiles.
  """
  results, failed = [], []
  for i, planned in enumerate(outputs):
    path = planned["source"]
    try:
      image = folders.read_image(path)
    except ValueError as e:
      if len(outputs) == 1:
        raise
      logging.warning("Skipping %s", e)
      failed.append(path)
      continue
    out = translator.translate_image(image * 2.0 - 1.0, tile)
    _write_png(planned["input"], to_uint8(image, 0.0))
    _write_png(planned["mask"], to_uint8(out["mask"], 0.0))
    _write_png(planned["translated"], to_uint8(out["translated"]))
    mask_mean = float(tf.reduce_mean(out["mask"]))
    results.append({**planned, "mask_mean": mask_mean})
    _record(output_dir, [planned[k] for k in KINDS])
    logging.info("[%d/%d] %s (mask mean %.3f)", i + 1, len(outputs), path, mask_mean)
  if failed:
    logging.warning("%d of %d file(s) could not be read: %s", len(failed), len(outputs),
                    ", ".join(failed[:5]))
  if not results:
    raise ValueError(f"None of the {len(outputs)} image(s) could be read")
  write_index(results, output_dir)
  _record(output_dir, [os.path.join(output_dir, INDEX)])
  return results


def _record(output_dir: str, paths: list[str]) -> None:
  """Adds `paths` to the manifest of files this command owns in `output_dir`."""
  names = sorted(set(_manifest(output_dir)) | {os.path.relpath(p, output_dir) for p in paths})
  tmp = os.path.join(output_dir, MANIFEST + ".tmp")
  with open(tmp, "w") as f:
    json.dump(names, f)
  os.replace(tmp, os.path.join(output_dir, MANIFEST))


def write_index(results: list[dict], output_dir: str, title: str = "uagit_tf translations"
                ) -> str:
  """Writes output_dir/index.html: one row per image, input | mask | translated."""
  rows = []
  for r in results:
    cells = "".join(
        f'<td><img src="{html.escape(os.path.relpath(r[k], output_dir))}"></td>'
        for k in KINDS)
    rows.append(f"<tr><td>{html.escape(os.path.basename(r['source']))}<br>"
                f"mask mean {r['mask_mean']:.3f}</td>{cells}</tr>")
  page = (f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
          "<style>img{max-width:320px;image-rendering:pixelated}td{padding:4px}</style>"
          f"<h1>{html.escape(title)}</h1><table><tr><th>file</th><th>input</th><th>mask</th>"
          f"<th>translated</th></tr>{''.join(rows)}</table>\n")
  path = os.path.join(output_dir, INDEX)
  with open(path + ".tmp", "w") as f:
    f.write(page)
  os.replace(path + ".tmp", path)
  return path
