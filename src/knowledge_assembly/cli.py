"""Project commands of the ``kedro`` CLI: ``kedro run`` with one-line errors, and ``kedro runs``, which lists every
kept run of the variants."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DatasetError
from kedro.io.core import VersionNotFoundError
from kedro.validation.exceptions import ParameterValidationError

from knowledge_assembly.config import ConfigError, EvaluationConfig, evaluation_entries
from knowledge_assembly.evaluation.evaluate import with_entries
from knowledge_assembly.files import ModelFileError, OutputNotWritableError, RunLockedError, unfinished
from knowledge_assembly.formats.errors import NoSpaceLeftError, RawDataError
from knowledge_assembly.models.weights import WeightsUnavailableError
from knowledge_assembly.pipeline_registry import configured_variants
from knowledge_assembly.reports.runs import runs_markdown, runs_table
from knowledge_assembly.training.distributed import launched_group, serve_launched_jobs


@click.group(name="knowledge-assembly")
def cli() -> None:
    """Commands of the knowledge-assembly project."""


# The project's own errors: their messages name the file or parameter and the problem, so the traceback (Kedro's
# is ~100-200 lines) is shown only with --verbose or KNOWLEDGE_ASSEMBLY_TRACEBACK=1.
PROJECT_ERRORS = (
    ConfigError,
    DatasetError,
    ModelFileError,
    NoSpaceLeftError,
    OutputNotWritableError,
    ParameterValidationError,
    RawDataError,
    RunLockedError,
    WeightsUnavailableError,
)
UNKNOWN_PIPELINE = re.compile(
    r"Failed to find the pipeline named '(?P<name>[^']*)'.*?(instead\?\s*(?P<close>.*))?$", re.S
)


class ProjectError(click.ClickException):
    """Printed as ``error: <message>`` on stderr, exit status 1, no traceback."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _message(err: BaseException) -> str | None:
    """The one-line (or short block) message of a project error, or None for any other exception."""
    if isinstance(err, PROJECT_ERRORS):
        return str(err).strip()
    unknown = UNKNOWN_PIPELINE.match(str(err)) if isinstance(err, ValueError) else None
    if unknown:
        close = ", ".join(f"'{name}'" for name in (unknown["close"] or "").split())
        hint = f"; did you mean {close}?" if close else ""
        return f"unknown pipeline '{unknown['name']}'{hint} (`kedro registry list` lists them)"
    return None


def _one_line_errors(command: click.Command) -> click.Command:
    """``command`` with the project's errors printed as one line (``--verbose`` shows the traceback)."""

    @functools.wraps(command.callback)
    def callback(*args, verbose: bool, **kwargs):
        group = launched_group()
        if group is not None and group.rank > 0:  # torchrun / srun: rank 0 runs the pipeline, this rank trains
            return serve_launched_jobs(group)
        try:
            return command.callback(*args, **kwargs)
        except Exception as err:
            message = _message(err)
            if message is None or verbose or os.environ.get("KNOWLEDGE_ASSEMBLY_TRACEBACK"):
                raise
            raise ProjectError(message) from None

    verbose = click.Option(["--verbose"], is_flag=True, help="Show the traceback of an error, not only its message.")
    return click.Command(
        command.name, callback=callback, params=[*command.params, verbose], help=command.help,
        context_settings=command.context_settings,
    )  # fmt: skip


run = _one_line_errors(kedro_run)  # Kedro takes a project's `run` from this module
cli.add_command(run)


@cli.command()
@click.option("--env", "-e", default=None, help="Kedro environment (e.g. real)")
@click.option("--variant", "-v", "variants", multiple=True, help="only these variants (repeatable)")
def runs(env: str | None, variants: tuple[str, ...]) -> None:
    """Every kept run of each variant, newest first: version, seed and headline metrics (%).

    A version names a run's model, history, metrics and figures alike; load an older one with
    ``kedro run --pipelines=evaluate_ka --load-versions=ka.model:<version>``."""
    project = Path.cwd()
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env) as session:
        context = session.load_context()
        catalog = context.catalog
        evaluation = EvaluationConfig.of(context.params["evaluation"])
        entries = evaluation_entries(evaluation.entries, context.params["sources"])
        known = configured_variants()
        unknown = [v for v in variants if v not in known]
        if unknown:
            raise click.BadParameter(
                f"unknown variant(s) {unknown}; the variants are {list(known)}", param_hint="--variant"
            )
        found = []
        for variant in variants or known:
            dataset = catalog.get(f"{variant}.metrics")
            try:
                versions = dataset.list_versions(full_path=False)
            except VersionNotFoundError:
                continue
            for version in versions:
                if unfinished(Path(str(dataset._filepath)) / version):
                    click.echo(f"warning: {variant} version {version} is left out: its run did not finish", err=True)
                    continue
                try:
                    metrics = catalog.load(f"{variant}.metrics", version=version)
                    found.append((version, with_entries(metrics, entries)))  # an earlier release's: by entry
                except DatasetError as err:  # one unreadable run must not hide the others
                    reason = str(err.__cause__ or err).splitlines()[0][:200]
                    click.echo(
                        f"warning: {variant}.metrics version {version} is unreadable ({reason}); left out", err=True
                    )
    if not found:
        click.echo("no runs yet: `kedro run --pipelines=ka` trains and evaluates one")
        return
    click.echo(runs_markdown(runs_table(found)))
