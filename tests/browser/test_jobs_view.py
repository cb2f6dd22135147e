"""The panel's job list (web/js/components/jobs.js) in real Chromium: whoever waits on a job gets its final
state, even when the job's final event arrived before the wait began. A quick import's websocket event can
beat the upload's own answer; the wait then hung forever and the drop's later files were never sent."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import ServedLibrary, open_panel

# Resolves with what the wait gave, or "stalled" when nothing came within the poll's first rounds.
_SCRIPT = """
async ([order]) => {
  const { JobsView } = await import('/model-library/js/components/jobs.js');
  const queued = { id: 'j1', kind: 'upload', state: 'queued', params: { filename: 'a.safetensors' } };
  const done = { ...queued, state: 'done', result: { model_id: 'm1' } };
  const polled = [];
  const api = { getJob: async (id) => { polled.push(id); return done; }, cancelJob: async () => ({}) };
  const view = new JobsView({ api });
  const announced = [];
  view.onFinal = (job) => announced.push(job.id);
  let waiting;
  if (order === 'event-first') {
    view.onJob(done);
    waiting = view.track(queued, 'Import a');
  } else {
    waiting = view.track(queued, 'Import a');
    view.onJob(done);
  }
  const stalled = new Promise((r) => setTimeout(() => r('stalled'), 4000));
  const answer = await Promise.race([waiting, stalled]);
  view.onJob(queued);  // a stale answer after the end changes nothing
  const row = view.element.querySelector('[data-key="job:j1"]');
  return {
    state: answer === 'stalled' ? 'stalled' : answer.state,
    announced,
    rowState: row ? row.dataset.state : null,
    rows: view.element.querySelectorAll('.mlib-job').length,
  };
}
"""


def _wait(page: Any, order: str) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(_SCRIPT, [order])
    return result


def test_a_wait_that_starts_after_the_final_event_still_ends(served: ServedLibrary, page: Any) -> None:
    open_panel(page, served)
    result = _wait(page, "event-first")
    assert result["state"] == "done"
    assert result["announced"] == ["j1"]  # announced once
    assert result["rowState"] == "done"  # the row shows the end, it does not spin
    assert result["rows"] == 1


def test_a_wait_that_starts_before_the_final_event_ends_once(served: ServedLibrary, page: Any) -> None:
    open_panel(page, served)
    result = _wait(page, "track-first")
    assert result == {"state": "done", "announced": ["j1"], "rowState": "done", "rows": 1}
