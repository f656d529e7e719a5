"""Dry runs send nothing, change nothing, and count what the real run then makes."""

from __future__ import annotations

import PIL.Image
import pytest

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.cli import main
from reverie.functions import reve


def _table(n: int) -> rv.Table:
    t = rv.create_table('dry', {'prompt': rv.String})
    t.insert([{'prompt': f'prompt {i}'} for i in range(n)], print_stats=False)
    return t


def test_the_estimate_of_a_new_column_equals_the_calls_the_real_run_makes(
    catalog: Catalog, service, capsys: pytest.CaptureFixture[str]
) -> None:
    server = service()
    t = _table(6)
    t.add_computed_column(first=reve.create(t.prompt), print_stats=False)  # 6 calls
    t.update({'prompt': 'changed 0'}, where=t.prompt == 'prompt 0')  # 1 more
    capsys.readouterr()
    before = len(server.entries())
    estimate = t.add_computed_column(img=reve.create(t.prompt, aspect_ratio='1:1'), dry_run=True)
    line = capsys.readouterr().out.strip()
    assert len(server.entries()) == before  # nothing was sent
    assert 'img' not in t.columns()  # nothing was changed
    assert line == str(estimate)
    assert line.startswith('Would make 6 paid calls (0 cached), 108 credits, about ')
    assert line.endswith('nothing was changed.')
    t.add_computed_column(img=reve.create(t.prompt, aspect_ratio='1:1'), print_stats=False)
    assert len(server.entries()) - before == estimate.paid_calls
    again = t.add_computed_column(img2=reve.create(t.prompt, aspect_ratio='1:1'), dry_run=True)
    assert (again.paid_calls, again.cached) == (0, 6)


def test_a_dry_run_counts_calls_that_read_other_calls(catalog: Catalog, service, tmp_path) -> None:
    server = service()
    src = tmp_path / 'src.png'
    PIL.Image.new('RGB', (32, 32), 'red').save(src)
    t = rv.create_table('chain', {'prompt': rv.String, 'photo': rv.Image})
    t.add_computed_column(scene=reve.create(t.prompt))
    t.add_computed_column(edited=reve.edit(t.photo, 'make it blue'))
    t.add_computed_column(
        mix=reve.remix('<img>0</img> in <img>1</img>', images=[t.edited, t.scene])
    )
    estimate = t.insert([{'prompt': 'a fox', 'photo': str(src)}], dry_run=True)
    assert t.count() == 0 and server.entries() == []
    assert (estimate.paid_calls, estimate.credits_high) == (3, 18 + 30 + 30)
    t.insert([{'prompt': 'a fox', 'photo': str(src)}], print_stats=False)
    assert len(server.entries()) == estimate.paid_calls


def test_recompute_update_and_the_cli_estimate(
    catalog: Catalog, service, capsys: pytest.CaptureFixture[str]
) -> None:
    server = service()
    t = _table(4)
    t.add_computed_column(img=reve.create(t.prompt), print_stats=False)
    n = len(server.entries())
    assert t.recompute_columns('img', dry_run=True).paid_calls == 4
    assert t.recompute_columns('img', dry_run=True, use_cache=True).paid_calls == 0
    assert t.update({'prompt': 'new'}, where=t.prompt == 'prompt 1', dry_run=True).paid_calls == 1
    assert t.select(t.prompt).where(t.prompt == 'new').count() == 0
    assert len(server.entries()) == n
    capsys.readouterr()
    assert main(['estimate', 'dry']) == 0
    assert 'Would make 0 paid calls (0 cached), 0 credits' in capsys.readouterr().out


@rv.udf(batch_size=4)
def _shout(prompts: rv.Batch[str]) -> rv.Batch[str]:
    return [p.upper() for p in prompts]


def test_a_dry_run_batches_a_batched_function_as_the_real_run_does(
    catalog: Catalog, service
) -> None:
    """Issue 17: the dry run called a batch_size UDF with scalars; its paid calls vanished."""
    server = service()
    t = _table(3)
    estimate = t.add_computed_column(img=reve.create(_shout(t.prompt)), dry_run=True)
    assert (estimate.paid_calls, estimate.credits_high) == (3, 3 * 18)
    t.add_computed_column(img=reve.create(_shout(t.prompt)), print_stats=False)
    assert len(server.entries()) == estimate.paid_calls
