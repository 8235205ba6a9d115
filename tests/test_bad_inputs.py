"""Every bad input of the attack rounds, one row each: how it is made, the real command it is given to, the message
expected, and that nothing was written. The next attack is one more row.

Scenarios that are not one input and one command (killed runs, two runs at once, a full or read-only disk, a
payload refused by every route) are in test_failure_modes.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import yaml
from kedro.validation.exceptions import ParameterValidationError

from knowledge_assembly.config import ConfigError
from knowledge_assembly.files import load_state
from knowledge_assembly.formats.errors import RawDataError
from knowledge_assembly.models.bundle import FORMAT

from .conftest import REPO, Project, infer

# --- raw data (ingestion): a clear error naming the file, and no manifest written ---------------------


def _rewrite_annotation(project, change) -> None:
    path = project.raw("pa100k") / "annotation.mat"
    mat = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    change(mat)
    scipy.io.savemat(path, mat)


def _append_csv_row(project, row: str) -> None:
    path = project.raw("upar") / "UPAR-Challenge-2027_task1_train_gt.csv"
    path.write_bytes(path.read_bytes() + row.encode() + b"\r\n")


def _truncate_first_gallery_jpeg(project) -> str:
    path = sorted((project.raw("market1501") / "bounding_box_test").glob("0*.jpg"))[0]
    path.write_bytes(path.read_bytes()[:300])
    return path.name


def _set_label(mat, value):
    mat["train_label"][0, 3] = value


def _rename_upar_attribute(project, old: str, new: str) -> None:
    path = project.raw("upar") / "UPAR-Challenge-2027_task1_train_gt.csv"
    header, rest = path.read_bytes().split(b"\r\n", 1)
    path.write_bytes(header.replace(old.encode(), new.encode()) + b"\r\n" + rest)


def _first_query(project):
    return sorted((project.raw("market1501") / "query").glob("0*.jpg"))[0]


def _move_to_camera_7(project) -> None:
    first = _first_query(project)
    first.rename(first.with_name(first.name[:6] + "7" + first.name[7:]))


def declares(path: Path, width: int, height: int) -> Path:
    """Rewrite the JPEG ``path`` so that its frame header declares ``width`` x ``height``: a few hundred bytes
    that would decode to gigabytes."""
    data = bytearray(path.read_bytes())
    frame = data.index(b"\xff\xc0")  # baseline frame header: marker, length (2), precision (1), height (2), width (2)
    data[frame + 5 : frame + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    path.write_bytes(bytes(data))
    return path


def _duplicate_train_name(mat) -> None:
    mat["train_images_name"][1, 0] = mat["train_images_name"][0, 0]


BAD_INPUTS = {
    "missing_folder": (
        lambda p: shutil.rmtree(p.raw("market1501") / "query"),
        r"query.*Market-1501 folder 'query' is missing",
    ),
    "corrupt_jpeg": (_truncate_first_gallery_jpeg, r"bounding_box_test/0\d{3}_c.*(corrupt|truncated)"),
    "not_a_jpeg": (
        lambda p: (p.raw("pa100k") / "release_data/release_data/000002.jpg").write_bytes(b"GIF89a" + bytes(100)),
        r"000002\.jpg: (unreadable|not a JPEG)",
    ),
    "bad_name": (
        lambda p: (p.raw("market1501") / "bounding_box_train" / "0002_c1_000451.jpg").write_bytes(b""),
        r"bounding_box_train/0002_c1_000451\.jpg: file name does not match the Market-1501 grammar",
    ),
    "mat_missing_key": (
        lambda p: _rewrite_annotation(p, lambda m: m.pop("val_label")),
        r"annotation\.mat: missing key\(s\) \['val_label'\]",
    ),
    "mat_label_shape": (
        lambda p: _rewrite_annotation(p, lambda m: m.update(train_label=m["train_label"][:, :25])),
        r"annotation\.mat: 'train_label' has shape \(24, 25\), expected \(24, 26\)",
    ),
    "mat_label_value": (
        lambda p: _rewrite_annotation(p, lambda m: _set_label(m, 2)),
        r"annotation\.mat: 'train_label' has value 2 outside \{0, 1\}",
    ),
    "mat_not_matlab": (
        lambda p: (p.raw("pa100k") / "annotation.mat").write_bytes(b"not a mat file"),
        r"annotation\.mat: not a readable MATLAB",
    ),
    "mat_path_escape": (
        lambda p: _rewrite_annotation(
            p, lambda m: m["test_images_name"].__setitem__((0, 0), np.array(["../../x.jpg"]))
        ),
        r"annotation\.mat: path '\.\./\.\./x\.jpg' escapes the raw data root",
    ),
    "mat_image_missing": (
        lambda p: (p.raw("pa100k") / "release_data/release_data/000003.jpg").unlink(),
        r"000003\.jpg: listed in annotation\.mat but missing",
    ),
    "csv_label_value": (
        lambda p: _append_csv_row(p, "PA100k/extra.jpg," + ",".join(["0"] * 39 + ["5"])),
        r"task1_train_gt\.csv: line \d+: value '5' for 'Accessory-Hat' is not 0 or 1",
    ),
    "csv_short_row": (
        lambda p: _append_csv_row(p, "PA100k/extra.jpg,0,1"),
        r"task1_train_gt\.csv: line \d+ has 3 fields, expected 41",
    ),
    "csv_path_escape": (
        lambda p: _append_csv_row(p, "PA100k/../../../etc/passwd," + ",".join(["0"] * 40)),
        r"task1_train_gt\.csv: path 'PA100k/\.\./\.\./\.\./etc/passwd' escapes the raw data root",
    ),
    "csv_missing": (
        lambda p: (p.raw("upar") / "UPAR-Challenge-2027_task1_train_gt.csv").unlink(),
        r"task1_train_gt\.csv: UPAR annotation CSV is missing",
    ),
    "csv_header_misspelled": (
        lambda p: _rename_upar_attribute(p, "Age-Old", "Age-Olde"),
        r"task1_train_gt\.csv: header must list exactly the 40 UPAR attributes: missing \['Age-Old'\]; "
        r"unknown 'Age-Olde' \(closest: 'Age-Old'\)",
    ),
    "csv_header_extra": (
        lambda p: _rename_upar_attribute(p, "Accessory-Hat", "Accessory-Hat,Accessory-Umbrella"),
        r"header must list exactly the 40 UPAR attributes: unknown 'Accessory-Umbrella'",
    ),
    "camera_outside": (_move_to_camera_7, r"query/0\d{3}_c7s\d_\d{6}_\d{2}\.jpg: camera outside c1-c6"),
    "dangling_symlink": (
        lambda p: (p.raw("market1501") / "query" / "0001_c1s1_999999_00.jpg").symlink_to(p.root / "gone.jpg"),
        r"query/0001_c1s1_999999_00\.jpg: dangling symbolic link",
    ),
    "directory": (
        lambda p: (p.raw("market1501") / "bounding_box_train" / "0002_c1s1_999999_00.jpg").mkdir(),
        r"bounding_box_train/0002_c1s1_999999_00\.jpg: a directory named like an image",
    ),
    "fifo": (
        lambda p: os.mkfifo(p.raw("market1501") / "bounding_box_test" / "0002_c1s1_999999_00.jpg"),
        r"bounding_box_test/0002_c1s1_999999_00\.jpg: not a regular file",
    ),
    "pa100k_fifo": (
        lambda p: [
            (p.raw("pa100k") / "release_data/release_data/000002.jpg").unlink(),
            os.mkfifo(p.raw("pa100k") / "release_data/release_data/000002.jpg"),
        ],
        r"000002\.jpg: not a regular file",
    ),
    "empty_split": (
        lambda p: [f.unlink() for f in (p.raw("market1501") / "query").iterdir()],
        r"query: Market-1501 folder 'query' holds no images",
    ),
    "decompression_bomb": (
        lambda p: declares(_first_query(p), 20000, 12000),
        r"query/0\d{3}_c\d.*\.jpg: image too large, refused as a possible decompression bomb",
    ),
    **{
        f"declared_pixels_{mode}": (
            lambda p, mode=mode: (declares(_first_query(p), 13000, 13000), {"image_check": mode}),
            r"query/0\d{3}_c\d.*\.jpg: declares 13000x13000 pixels \(169 Mpx\), over the limit of 16 Mpx "
            r"\(ingestion\.image_max_pixels\); refused before decoding",
        )
        for mode in ("none", "header", "full")
    },
    "mat_duplicate_in_split": (
        lambda p: _rewrite_annotation(p, _duplicate_train_name),
        r"annotation\.mat: image \d{6}\.jpg is listed twice in 'train_images_name'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_raw_data_is_named_and_no_manifest_is_written(raw_project, case):
    corrupt, message = BAD_INPUTS[case]
    made = corrupt(raw_project)
    ingestion = made[1] if isinstance(made, tuple) else {}  # some cases also set ingestion parameters
    with pytest.raises(RawDataError, match=message):
        raw_project.run(["ingestion"], ingestion=ingestion) if ingestion else raw_project.run(["ingestion"])
    assert not raw_project.primary().exists() or not any(raw_project.primary().iterdir())


# --- parameters: refused before any node runs ------------------------------------------------------------

BAD_PARAMETERS = {  # parameters file of an environment (typed at the node) or --params, and the message
    "unknown_key": ({"training": {"ids_per_batc": 4}}, r"unknown parameter 'training\.ids_per_batc' \(did you mean "
                    r"'training\.ids_per_batch'\?\)"),
    "not_positive": ({"training": {"epochs": 0}}, r"training: epochs must be > 0, got 0"),
    "wrong_type": ({"training": {"lr": "fast"}}, r"parameter 'training\.lr' must be float, got 'fast'"),
    "unknown_device": ({"training": {"device": "gpu"}}, r"device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    "nan": ({"training": {"lr": float("nan")}}, r"parameter 'training\.lr' must be a finite number, got nan"),
    "inf": ({"training": {"weight_decay": float("inf")}}, r"'training\.weight_decay' must be a finite number, got inf"),
    "absent_gpu": ({"training": {"device": "cuda:99"}}, r"device cuda:99: this machine has \d+ CUDA device\(s\)"),
    "no_seeds": ({"paper": {"seeds": []}}, r"paper\.seeds must list the training seeds to report.*; got \[\]"),
    "seed_count": ({"paper": {"seeds": [10, 11]}}, r"paper\.seeds=\[10, 11\] lists 2 seeds, but the paper pipeline "
                   r"has 3 runs, one per seed of paper\.seeds in conf/base/parameters_paper\.yml .*give 3 seeds"),
    "entry_source": ({"evaluation": {"par/peta": {"source": "pet"}}}, r"evaluation\.entries\.par/peta: unknown source "
                     r"'pet' \(did you mean 'peta'\?\)"),
    "entry_protocol": ({"evaluation": {"reid/campus": {"protocol": "cross_cam"}}}, r"evaluation\.entries\.reid/campus: "
                       r"unknown protocol 'cross_cam' \(did you mean 'cross_camera'\?\)"),
    "entry_measure": ({"evaluation": {"par/night": {"headline": ["mAP"]}}}, r"evaluation\.entries\.par/night: "
                      r"unknown measure 'mAP' of protocol attributes \(did you mean 'mA'\?\)"),
    "entry_manifest": ({"evaluation": {"par/peta": {"task": "reid", "split": "query", "protocol": "cross_camera",
                                                   "headline": ["mAP"]}}},
                       r"evaluation\.entries\.par/peta: source peta names no query or gallery manifest in "
                       r"sources\.peta\.evaluation \(it names: attributes\)"),
    "entry_task": ({"evaluation": {"par/pa100k": {"task": "reid"}}}, r"evaluation\.entries\.par/pa100k: protocol "
                   r"attributes measures task par, not 'reid'"),
    "monitor_entry": ({"validation": {"monitor": "reid/market150/mAP"}}, r"validation\.monitor='reid/market150/mAP': "
                      r"no evaluation entry 'reid/market150' \(did you mean 'reid/market1501'\?\)"),
    "monitor_measure": ({"validation": {"monitor": "par/pa100k/mAP"}}, r"validation\.monitor='par/pa100k/mAP': "
                        r"validation reports mA, f1 of entry par/pa100k \(protocol attributes\) "
                        r"\(did you mean 'mA'\?\)"),
}  # fmt: skip
EVALUATION = yaml.safe_load((REPO / "conf/base/parameters_evaluation.yml").read_text())["evaluation"]


def _bad_files(values: dict) -> dict:
    """An environment's parameter files for a BAD_PARAMETERS case (an entry's keys change conf/base's entry)."""
    files = {"parameters_training": {k: v for k, v in values.items() if k not in ("paper", "evaluation")}}
    if "paper" in values:
        files["parameters_paper"] = {"paper": values["paper"]}
    if "evaluation" in values:
        entries = {key: {**entry, **values["evaluation"].get(key, {})} for key, entry in EVALUATION["entries"].items()}
        files["parameters_evaluation"] = {"evaluation": {**EVALUATION, "entries": entries}}
    return files


@pytest.mark.parametrize("case", sorted(BAD_PARAMETERS))
def test_bad_parameters_are_refused_before_any_node_runs(raw_project, case):
    values, message = BAD_PARAMETERS[case]
    raw_project.write_env("bad", **_bad_files(values))
    with pytest.raises((ParameterValidationError, ConfigError), match=message):
        raw_project.run(["paper" if "paper" in values else "ka"], env="bad")
    assert not raw_project.primary().exists()  # nothing ran


# --- model files and images given to the inference command: one line, exit 1, no output file -------------


@pytest.fixture(scope="module")
def served(tmp_path_factory, trained_cache) -> Project:
    """A copy of the session's project with an ``mtl`` model trained by a real ``kedro run``, shared by the
    inference rows (each writes only its own bad input)."""
    root = tmp_path_factory.mktemp("served") / "project"
    shutil.copytree(trained_cache, root, symlinks=True)
    return Project(root)


class WritesAFile:
    """A pickle payload: unpickling it would create the file ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def _query(project: Project) -> Path:
    return sorted((project.raw("market1501") / "query").glob("0*.jpg"))[0]


def _model(project: Project) -> Path:
    return project.data / "06_models/synthetic/mtl.pt"


def _payload(project: Project, folder: Path) -> list:
    path = folder / "payload.pt"
    torch.save({"variant": "mtl", "model": {}, "state_dicts": [WritesAFile(folder / "payload-ran")]}, path)
    return ["--model", path, _query(project)]


def _text_file(project: Project, folder: Path) -> list:
    (folder / "notes.txt").write_text("not a model\n")
    return ["--model", folder / "notes.txt", _query(project)]


def _bare_bundle(project: Project, folder: Path) -> list:
    torch.save({"format": FORMAT, "model": {}}, folder / "bare.pt")  # loads with weights_only, holds no model
    return ["--model", folder / "bare.pt", _query(project)]


def _huge_input(project: Project, folder: Path) -> list:
    state = load_state(project.model("mtl"))
    torch.save({**state, "image_size": [30000, 30000]}, folder / "huge.pt")  # would allocate GBs per image
    return ["--model", folder / "huge.pt", _query(project)]


def _bomb(folder: Path, project: Project) -> Path:
    (folder / "gallery").mkdir()
    return declares(shutil.copy(_query(project), folder / "gallery" / "bomb.jpg"), 12000, 12000)


def _broken_image(project: Project, folder: Path) -> list:
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return ["--model", _model(project), folder / "broken.jpg"]


BAD_SERVING = {  # makes the input (in a fresh folder) -> the command's arguments; the message on stderr
    "payload_pickle": (_payload, r"payload\.pt: refused: not a plain PyTorch state file \(Unsupported global: exec; "
                       r"the file is not trusted and nothing in it ran\)"),
    "text_file": (_text_file, r"notes\.txt: unreadable: not a file written by torch\.save"),
    "checkpoint": (lambda p, f: ["--model", p.data / "06_models/synthetic/checkpoints/mtl-seed0.pt", _query(p)],
                   r"mtl-seed0\.pt: is a training checkpoint, not a model bundle"),
    "missing_model": (lambda p, f: ["--model", f / "none.pt", _query(p)], r"none\.pt: model bundle not found"),
    "bare_bundle": (_bare_bundle, r"bare\.pt: a model bundle without variant, attributes, num_ids"),
    "huge_input_size": (_huge_input, r"huge\.pt: image_size 30000x30000: a network input side must be 1\.\.4096"),
    "output_is_a_folder": (lambda p, f: ["--model", _model(p), _query(p), "--output", f],
                           r"is a folder; --output takes a file name"),
    "broken_image": (_broken_image, r"broken\.jpg: cannot decode image"),
    "declared_pixels": (lambda p, f: ["--model", _model(p), _bomb(f, p)],
                        r"bomb\.jpg: declares 12000x12000 pixels \(144 Mpx\), over the limit of 16 Mpx"),
    "declared_pixels_gallery": (lambda p, f: ["--model", _model(p), _query(p), "--gallery", _bomb(f, p).parent],
                                r"bomb\.jpg: declares 12000x12000 pixels"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_SERVING))
def test_bad_model_files_and_images_get_one_line_and_no_output(served, tmp_path, case):
    make, message = BAD_SERVING[case]
    args = make(served, tmp_path)
    output = [] if "--output" in args else ["--output", tmp_path / "out.json"]
    result = infer(served, *args, *output)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and re.search(message, result.stderr), result.stderr
    assert "weights_only" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "payload-ran").exists()  # nothing written, ran


# --- the kedro command: the project's errors as one line (or a short block), exit 1, no traceback -----------

BAD_COMMANDS = {  # kedro run arguments in an empty project, and the whole of stderr's last lines
    "params_typo": (
        ["--env", "test", "--params", "training.epoch=1"],
        r"error: unknown parameter 'training\.epoch' given with --params \(did you mean 'training\.epochs'\?\)",
    ),
    "unknown_pipeline": (
        ["--env", "test", "--pipelines=kaa"],
        r"error: unknown pipeline 'kaa'; did you mean 'ka'.*\(`kedro registry list` lists them\)",
    ),
    "real_data_missing": (
        ["--env", "real", "--pipelines=ingestion"],
        r"error: raw data not found:\n"
        r"  \S+/real/Market-1501-v15\.09\.15: missing; put the Market-1501 release \(bounding_box_train/.*\n"
        r"  \S+/real/PA-100K: missing; put the PA-100K release \(annotation\.mat.*\n"
        r"  \S+/real/UPAR: missing; put the UPAR annotations .*\n"
        r"point the raw roots in conf/<env>/globals\.yml at your copies.*",
    ),
    "model_not_trained": (
        ["--env", "test", "--pipelines=evaluate_mtl"],
        r"error: inputs not written yet; run first\n"  # in the order the commands must run
        r"  kedro run --pipelines=ingestion: .*\n  kedro run --pipelines=model_input: .*\n"
        r"  kedro run --pipelines=train_mtl: mtl\.model, mtl\.training_history",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_COMMANDS))
def test_bad_commands_print_one_message_and_no_traceback(project, case):
    args, message = BAD_COMMANDS[case]
    command = [sys.executable, "-m", "kedro", "run", *args]
    done = subprocess.run(command, cwd=project.root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert re.search(message + r"\Z", done.stderr.strip()), done.stderr[-2000:]
    assert "Traceback" not in done.stderr + done.stdout and "Using 'conf/logging.yml'" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 8, done.stderr  # the session's first log line and the message


def test_verbose_shows_the_traceback_of_a_project_error(project):
    command = [sys.executable, "-m", "kedro", "run", "--env", "test", "--params", "training.epoch=1", "--verbose"]
    done = subprocess.run(command, cwd=project.root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" in done.stderr + done.stdout and "ConfigError" in done.stderr
