"""Provider faults that must not be paid again (issue 19): Gemini quota and moderation,
BFL's expiring result URLs. Counted from each stand-in's own log."""

from __future__ import annotations

import collections

import pytest

import reverie as rv
from reverie.functions import images


def _table(prompts: list[str]) -> rv.Table:
    t = rv.create_table('scenes', {'prompt': rv.String})
    t.insert([{'prompt': p} for p in prompts], print_stats=False)
    return t


def _posts_per_prompt(server, key: str) -> collections.Counter[str]:
    return collections.Counter(str(c.fields.get(key)) for c in server.calls if c.method == 'POST')


@pytest.mark.parametrize('outcome', ['quota-day', 'prepaid'])
def test_gemini_quota_used_up_stops_the_run_with_cells_pending(
    sqlite_catalog, gemini_server, outcome
):
    """Issue: a 429 RESOURCE_EXHAUSTED for a used-up quota was retried 7 times per cell."""
    gemini_server.script.extend([outcome] * 50)
    t = _table([])
    t.add_computed_column(
        img=images.create(t.prompt, model='gemini/gemini-3.1-flash-image'),
        print_stats=False,
    )
    with pytest.raises(rv.RunStoppedError, match='quota or billing credits') as info:
        t.insert([{'prompt': f'a harbour {i}'} for i in range(6)], print_stats=False)
    posts = [c for c in gemini_server.calls if c.method == 'POST']
    rows = t.select(t.img, t.img.errortype).collect()
    print(f'PAID gemini {outcome}: 6 cells, {len(posts)} requests, run stopped')
    assert info.value.reason == 'service'
    assert len(posts) <= 6  # at most the calls already in flight, once each (was 42)
    assert all(r['img'] is None and r['img_errortype'] is None for r in rows)  # pending


def test_gemini_per_minute_429_is_still_retried(sqlite_catalog, gemini_server, monkeypatch):
    gemini_server.retry_delay = '0.05s'
    gemini_server.script.extend(['429'])
    t = _table(['a harbour'])
    t.add_computed_column(
        img=images.create(t.prompt, model='gemini/gemini-3.1-flash-image'),
        print_stats=False,
    )
    assert t.select(t.img).collect()[0]['img'] is not None
    assert [c.status for c in gemini_server.calls] == [429, 200]


def test_gemini_image_safety_refusal_is_sent_once(sqlite_catalog, gemini_server):
    """Issue: an IMAGE_SAFETY refusal was sent twice (retried as maybe charged)."""
    t = _table(['unsafe-output 1', 'unsafe-output 2'])
    t.add_computed_column(
        img=images.create(t.prompt, model='gemini/gemini-3.1-flash-image'),
        on_error='ignore',
        print_stats=False,
    )
    posts = [c for c in gemini_server.calls if c.method == 'POST']
    errors = t.select(t.img.errortype).collect()['img_errortype']
    print(f'PAID gemini IMAGE_SAFETY: 2 cells, {len(posts)} requests')
    assert len(posts) == 2
    assert set(errors) == {'ContentViolationError'}


def test_bfl_expired_result_url_polls_the_task_again_instead_of_paying_again(
    sqlite_catalog, bfl_server
):
    """Issue: an expired signed URL submitted a new paid task (6 tasks for 3 cells, 0 images)."""
    bfl_server.stale_urls = 1  # each task's first Ready answer carries an expired URL
    bfl_server.pending_polls = 0
    t = _table([f'a lighthouse {i}' for i in range(3)])
    t.add_computed_column(
        img=images.create(t.prompt, model='bfl/flux-2-pro'), on_error='ignore', print_stats=False
    )
    tasks = _posts_per_prompt(bfl_server, 'prompt')
    values = t.select(t.img).where(t.img != None).count()  # noqa: E711
    expired = sum(1 for c in bfl_server.calls if c.path == '/delivery' and c.status == 403)
    print(
        f'PAID bfl expired URL: 3 cells, {sum(tasks.values())} tasks, {values} images, '
        f'{expired} expired URLs re-signed by polling'
    )
    assert sum(tasks.values()) == 3 and values == 3 and expired == 3
