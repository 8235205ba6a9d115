"""Project commands of the ``kedro`` CLI: ``kedro runs`` lists every kept run of the variants."""

from __future__ import annotations

from pathlib import Path

import click
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DatasetError
from kedro.io.core import VersionNotFoundError

from knowledge_assembly.files import unfinished
from knowledge_assembly.pipeline_registry import configured_variants
from knowledge_assembly.reports.runs import runs_markdown, runs_table


@click.group(name="knowledge-assembly")
def cli() -> None:
    """Commands of the knowledge-assembly project."""


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
        catalog = session.load_context().catalog
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
                    found.append((version, catalog.load(f"{variant}.metrics", version=version)))
                except DatasetError as err:  # one unreadable run must not hide the others
                    reason = str(err.__cause__ or err).splitlines()[0][:200]
                    click.echo(
                        f"warning: {variant}.metrics version {version} is unreadable ({reason}); left out", err=True
                    )
    if not found:
        click.echo("no runs yet: `kedro run --pipelines=ka` trains and evaluates one")
        return
    click.echo(runs_markdown(runs_table(found)))
