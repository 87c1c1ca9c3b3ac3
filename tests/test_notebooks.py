"""The notebooks in notebooks/: committed without outputs, and executed here with a real kernel.

Each runs top to bottom in an IPython kernel (nbclient + ipykernel) started from this test's own
Python: a `python3` kernelspec is written to a temporary folder, so the kernel is this venv's
interpreter whatever other Jupyter kernels the machine has. Each must state its question at the
top, show every figure it draws, and end with an answer computed from its results. Anything a notebook writes goes to a
temporary folder (TEACHERSIM_NOTEBOOK_OUT), never into the repository.
"""

from __future__ import annotations

import os
import re
import sys
import time

import nbformat
import pytest
from conftest import REPO
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = REPO / "notebooks"
NAMES = ["01_quickstart.ipynb", "02_compare_policies.ipynb", "03_what_if.ipynb",
         "04_sweep_and_sensitivity.ipynb", "05_network.ipynb", "06_calibrate_your_district.ipynb",
         "07_choose_a_policy.ipynb"]
BUDGET_SECONDS = 60  # each notebook must run well under a minute on the CI machine


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory):
    """A `python3` kernelspec that runs this interpreter (the venv's), in a folder of its own."""
    folder = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(path=str(folder / "python3"), overrides={"display_name": "teachersim test kernel"})
    return KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=False)


@pytest.fixture(scope="module")
def executed(kernel_specs, tmp_path_factory):
    """Execute a notebook once (cached per module); returns (notebook, seconds, output folder)."""
    cache = {}

    def run(name: str):
        if name not in cache:
            out = tmp_path_factory.mktemp(name.split("_")[0])
            nb = nbformat.read(NOTEBOOKS / name, as_version=4)
            nb.cells.append(nbformat.v4.new_code_cell("import sys; print('KERNEL', sys.executable)"))
            km = KernelManager(kernel_name="python3", kernel_spec_manager=kernel_specs)
            client = NotebookClient(nb, km=km, timeout=BUDGET_SECONDS * 2, allow_errors=False,
                                    resources={"metadata": {"path": str(NOTEBOOKS)}})
            old = dict(os.environ)
            # the kernel inherits these: outputs go to a temporary folder, figures show inline
            # (CI exports MPLBACKEND=Agg, which a notebook server would not)
            os.environ.update(TEACHERSIM_NOTEBOOK_OUT=str(out), MPLBACKEND="module://matplotlib_inline.backend_inline")
            t0 = time.perf_counter()
            try:
                client.execute()
            finally:
                os.environ.clear()
                os.environ.update(old)
            cache[name] = (nb, time.perf_counter() - t0, out)
        return cache[name]

    return run


def outputs(cell, mime: str) -> list[str]:
    found = []
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if mime in data:
            found.append(data[mime])
        elif mime == "text/plain" and out.get("output_type") == "stream":
            found.append(out["text"])
    return found


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code), f"{name}: clear the outputs"
    assert "widgets" not in nb.metadata
    assert nb.metadata["kernelspec"]["name"] == "python3"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "**Question.**" in first.source
    assert nb.cells[-2].cell_type == "markdown" and nb.cells[-2].source.strip() == "## Answer"
    # notebooks run one small thing in this process, never a parallel cluster
    assert not re.search(r"workers=|scheduler=|Dask|LocalCluster|slurm", "".join(c.source for c in code))


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_shows_its_figures_and_answers(executed, name):
    nb, seconds, _ = executed(name)
    assert seconds < BUDGET_SECONDS, f"{name} took {seconds:.0f} s"
    code = [c for c in nb.cells if c.cell_type == "code"]
    # the kernel was this interpreter
    assert outputs(code[-1], "text/plain") == [f"KERNEL {sys.executable}\n"]
    # every cell that draws a figure shows it
    drawing = [c for c in code if re.search(r"^fig = plots\.", c.source, re.M)]
    assert drawing
    for cell in drawing:
        assert len(outputs(cell, "image/png")) == 1, f"{name}: no figure shown by:\n{cell.source}"
    # the answer, in words, computed in the last cell before the kernel check
    answer = outputs(code[-2], "text/markdown")
    assert len(answer) == 1 and answer[0].startswith("**Answer.**"), answer
    assert re.search(r"\d", answer[0]) and "{" not in answer[0] and "nan" not in answer[0].lower()
    assert "Answer." in code[-2].source and "display(Markdown(answer))" in code[-2].source


def test_quickstart_answer_is_the_results(executed):
    """The numbers in notebook 01's answer are those of the same run done here."""
    import sim
    from sim.experiments.statistics import MIN_REPLICATES, t_interval
    from sim.metrics import HIGH_QUALITY_CV

    nb, _, _ = executed("01_quickstart.ipynb")
    answer = outputs([c for c in nb.cells if c.cell_type == "code"][-2], "text/markdown")[0]
    scenario = sim.small_world(REPO / "scenarios" / "dongcheng_2021.yaml", schools_per_district=20,
                               teachers_per_school=30)
    m = sim.run(scenario, years=5, reps=MIN_REPLICATES).metrics
    assert f"(small world, {MIN_REPLICATES} replicates)" in answer
    for level, limit in HIGH_QUALITY_CV.items():
        sel = m[(m["metric"] == "cv_backbone") & (m["subgroup"] == level)]
        start = sel[sel["year"] == 0]["value"].mean()
        end, lo, hi = t_interval(sel[sel["year"] == 5]["value"].to_numpy())
        status = "below" if end <= limit else "still above"
        # the interval is the t-interval cut at 0, and the answer says whether it settles the question
        settled = hi <= limit if end <= limit else lo > limit
        assert (f"for {level} schools it goes from {start:.2f} to {end:.2f}, {status} the limit of {limit:.2f} "
                f"(95% interval {max(lo, 0.0):.2f} to {hi:.2f}, "
                + ("wholly on that side)" if settled else "which reaches the limit: not settled")) in answer


def test_what_if_has_controls_and_a_path_without_them(executed):
    nb, _, _ = executed("03_what_if.ipynb")
    controls = next(c for c in nb.cells if c.cell_type == "code" and "interact_manual" in c.source)
    assert "except ImportError" in controls.source  # ipywidgets is optional
    assert outputs(controls, "application/vnd.jupyter.widget-view+json"), "the controls were not displayed"
    table = next(c for c in nb.cells if c.cell_type == "code" and "TRIALS = {" in c.source)
    html = outputs(table, "text/html")[0]
    for lever in ("quota = ", "years_before_eligibility = 3", "matching = random", "full_time_share = 0.5",
                  "double_teacher_classrooms = 0", "dormitories = 50"):
        assert lever in html


def test_sweep_notebook_runs_serially_into_its_own_folder(executed):
    nb, _, out = executed("04_sweep_and_sensitivity.ipynb")
    source = "".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "serial=True" in source
    assert len(list((out / "nb04_sobol" / "runs").glob("*.parquet"))) == 8 * (3 + 2)  # one replicate per point
    assert len(list((out / "nb04_quota_grid" / "runs").glob("*.parquet"))) == 8 * 2 * 5
    printed = "".join(outputs(nb.cells[1], "text/plain"))
    assert "serial (this process)" in printed and "0 failed" in printed
    assert not (REPO / "results" / "notebooks").exists() or not any((REPO / "results" / "notebooks").iterdir())


def answer_of(nb) -> str:
    return outputs([c for c in nb.cells if c.cell_type == "code"][-2], "text/markdown")[0]


@pytest.mark.parametrize("name", NAMES)
def test_every_answer_states_its_sample_and_no_interval_leaves_the_range(executed, name):
    """Each answer says how many replicates it rests on; CVs and shares are never quoted below 0
    (notebooks 01, 04 and 05 quote only those; 02 and 03 quote differences, which may be negative)."""
    nb, _, _ = executed(name)
    answer = answer_of(nb)
    assert re.search(r"\d+ (paired )?replicates", answer), answer
    if name.startswith(("01", "04", "05")):
        assert "interval" in answer and not re.search(r"\[-|to -", answer), answer


def test_what_if_says_which_constraint_binds_when_the_quota_doubles(executed):
    nb, _, _ = executed("03_what_if.ipynb")
    code = [c for c in nb.cells if c.cell_type == "code"]
    table = outputs(next(c for c in code if "def main_program_years" in c.source), "text/html")[0]
    assert all(col in table for col in ("eligible", "selected", "unmatched", "binds"))
    answer = answer_of(nb)
    named = re.search(r"what binds at \d+ is (.+?); at \d+ the eligible pool binds", answer)
    assert named, answer
    kinds = re.findall(r"the (eligible pool|quota|coverage target|leadership cap) in year\(s\)", named.group(1))
    assert kinds and all(k in table for k in kinds)


def test_sweep_notebook_says_what_its_sample_cannot_settle(executed):
    """Its Sobol design (base sample 8, under sim.experiments.statistics.MIN_SOBOL_BASE) is said not to settle
    the ranking."""
    nb, _, _ = executed("04_sweep_and_sensitivity.ipynb")
    code = [c for c in nb.cells if c.cell_type == "code"]
    sens = next(c for c in code if "sim.sensitivity(" in c.source)
    assert any("SmallSampleWarning" in o.get("text", "") for o in sens.outputs if o.get("name") == "stderr")
    answer = answer_of(nb)
    assert "**not settled**" in answer and "base sample of 8 " in answer
    assert re.search(r"`points: \d+`", answer)


def test_policy_notebook_answers_with_its_search_folder(executed):
    """Notebook 07's answer names the policy the answer of its own search folder chooses, serially."""
    from sim.experiments.optimize import load_folder
    from sim.experiments.optimize_answer import answer

    nb, _, out = executed("07_choose_a_policy.ipynb")
    folder = out / "nb07_choose_a_policy"
    manifest = (folder / "manifest.json").read_text()
    assert '"executor": "serial (this process)"' in manifest and '"status": "done"' in manifest
    ans = answer(load_folder(folder), folder)
    text = answer_of(nb)
    assert "3 paired replicates" in text or "3 replicates a candidate" in text
    assert (f"the cheapest policy meeting both limits is: {ans.policy}." in text if ans.policy
            else "none of the" in text)


def test_calibrate_your_district_answer_is_its_fit_table(executed):
    """Notebook 06's answer says what the calibration folder it wrote says: the best quota, each
    fitted target met or not, and the held-out figure under both readings."""
    import json

    import pandas as pd

    nb, _, out = executed("06_calibrate_your_district.ipynb")
    answer = outputs([c for c in nb.cells if c.cell_type == "code"][-2], "text/markdown")[0]
    folder = out / "example_district_fit"
    fit = pd.read_csv(folder / "fit.csv").set_index(["target", "reading"])
    best = json.loads((folder / "best.json").read_text())["parameters"]
    assert f"a quota of {best['policy.programs.district_exchange.quota.min_count']} a year" in answer
    for name in ("rotated_30_in_year1", "exits_4pc_a_year"):
        row = fit.loc[(name, "published")]
        assert f"`{name}` {row.model_mean:.3g} against {row.published:g} ({'met' if row.met else '**not met**'})" \
            in answer
    for reading, words in (("published", "of all teachers in post"), ("eligible_cohort", "of the cohort eligible")):
        row = fit.loc[("a_quarter_within_three_years", reading)]
        assert f"{row.model_mean:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}], " + \
            ("within" if row.met else "**not** within") + f" the published >= 0.25 {words}" in answer
    assert (folder / "report.html").is_file() and (folder / "report.md").is_file()
