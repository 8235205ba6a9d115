"""Label-free adaptation to a new camera (knowledge-assembly-adapt, AdaBN) on a model trained by a real Kedro run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from knowledge_assembly.adapt import ImageBatches, main
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.models.prediction import predict

from .conftest import Project, in_process, infer


def adapt(project: Project, *args) -> subprocess.CompletedProcess:
    """The adaptation command's ``main`` in this process; :func:`adapt_process` runs the installed command."""
    return in_process(main, project, *args)


def adapt_process(project: Project, *args) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("knowledge-assembly-adapt")), *map(str, args)]
    return subprocess.run(command, cwd=project.root, capture_output=True, text=True, timeout=300)


def write_images(folder: Path, images: np.ndarray) -> Path:
    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i:04d}.png")
    return folder


def test_adaptation_adds_only_new_statistics_and_makes_a_shifted_camera_read_like_the_original(trained, tmp_path):
    """A camera whose images are the query images at half contrast and brighter (an affine change the first
    convolution passes on unchanged) reads, after adaptation, like the original images adapted the same way;
    before, with the training statistics, it does not."""
    models = trained.data / "06_models/synthetic/mtl.pt"
    original = ModelBundle.load(trained.model("mtl"))
    plain = np.load(trained.data / "05_model_input/synthetic/reid_query_images.npy")
    shifted = (plain * 0.5 + 90).astype(np.uint8)
    for name, images in (("plain", plain), ("shifted", shifted)):
        run = adapt_process if name == "plain" else adapt  # the installed command once, then its main in-process
        result = run(trained, "--model", models, "--images", write_images(tmp_path / name, images), "--domain", name)
        assert result.returncode == 0, result.stderr
        assert f"with domain {name} ({len(images)} images" in result.stdout
    assert len(list(models.glob("*/mtl.pt"))) == 3  # two new versions of the versioned model folder
    adapted = ModelBundle.load(trained.model("mtl"))
    assert adapted.domains == ("market1501", "pa100k", "plain", "shifted") and adapted.model.domain_bn
    assert adapted.settings["adapted"]["shifted"] == {"images": str(tmp_path / "shifted"), "count": len(plain)}
    before, after = original.state_dicts[0], adapted.state_dicts[0]
    added = set(after) - set(before)
    assert added and all(".domains.2." in key or ".domains.3." in key for key in added)
    assert {key.rsplit(".", 1)[1] for key in added} == {"running_mean", "running_var", "num_batches_tracked"}
    assert all(torch.equal(before[key], after[key]) for key in before)  # every weight and old statistic unchanged

    def attributes(bundle: ModelBundle, images: np.ndarray, domain: str) -> np.ndarray:
        return predict(bundle.networks()[0], images, domain=bundle.domain_of(domain))["attribute_probability"]

    unadapted_gap = np.abs(attributes(original, shifted, "market1501") - attributes(original, plain, "market1501"))
    adapted_gap = np.abs(attributes(adapted, shifted, "shifted") - attributes(adapted, plain, "plain"))
    assert adapted_gap.mean() < 0.5 * unadapted_gap.mean(), (adapted_gap.mean(), unadapted_gap.mean())
    # inference reads the new camera by name
    image = tmp_path / "shifted" / "0000.png"
    shown = infer(trained, "--model", models, image, "--domain", "shifted", "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"domain": "shifted"' in shown.stdout


def test_adaptation_refuses_bad_input_in_one_line_and_writes_nothing(trained, tmp_path):
    models = trained.data / "06_models/synthetic/mtl.pt"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    broken = write_images(tmp_path / "broken", np.zeros((3, 8, 4, 3), np.uint8))
    (broken / "0001.png").write_bytes(b"not a png")
    cases = [
        (["--images", empty, "--domain", "cam"], f"{empty}: no image files"),
        (["--images", tmp_path / "absent", "--domain", "cam"], "absent: not a folder"),
        (["--images", broken, "--domain", "cam"], f"{broken / '0001.png'}: cannot decode image"),
        (
            ["--images", trained.raw("night") / "images", "--domain", "pa100k"],
            "domain 'pa100k' is already in the model",
        ),
        (["--images", trained.raw("night") / "images", "--domain", "night cam"], "use letters, digits and underscores"),
    ]
    for args, message in cases:
        result = adapt(trained, "--model", models, *args)
        assert result.returncode in (1, 2) and message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert len(list(models.glob("*/mtl.pt"))) == 1


def test_image_batches_stream_at_most_one_batch_and_never_leave_a_lone_image(tmp_path):
    folder = write_images(tmp_path / "cam", np.random.default_rng(0).integers(0, 255, (7, 8, 4, 3), np.uint8))
    paths = tuple(sorted(folder.iterdir()))
    sizes = [len(batch) for batch in ImageBatches(paths, (4, 8), 3, 10**6, "test")]
    assert sizes == [3, 4]  # 3 + 3 + 1: the lone last image joins the batch before it
    assert [len(batch) for batch in ImageBatches(paths[:6], (4, 8), 3, 10**6, "test")] == [3, 3]
