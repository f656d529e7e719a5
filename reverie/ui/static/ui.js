// reverie ui: the lightbox, the compare keys and the live Work page. No build step.
(function () {
  'use strict';

  // Lightbox: htmx loads a cell into #lightbox-body; open the dialog when it arrives.
  document.addEventListener('htmx:afterSwap', function (e) {
    if (e.detail.target && e.detail.target.id === 'lightbox-body') {
      var box = document.getElementById('lightbox');
      if (!box.open) box.showModal();
    }
  });

  // Compare: step with the keyboard, mark the preferred image (after a confirmation).
  function setupCompare(root) {
    var cols = root.dataset.cols ? root.dataset.cols.split(',') : [];
    var dialog = document.getElementById('confirm-mark');
    var status = document.getElementById('mark-status');
    var pending = null;

    function ask(value) {
      if (!root.dataset.writes) {
        status.textContent = 'Read-only: start the UI with --allow-writes to store marks.';
        return;
      }
      pending = value;
      document.getElementById('cm-value').textContent = value;
      dialog.showModal();
    }

    dialog.addEventListener('close', function () {
      if (dialog.returnValue !== 'ok' || pending === null) return;
      var body = new URLSearchParams({row: root.dataset.row, column: root.dataset.mark,
                                      value: pending, confirm: 'yes'});
      fetch(root.dataset.post, {method: 'POST', body: body, credentials: 'same-origin'})
        .then(function (r) { return r.text().then(function (t) { return [r.ok, t]; }); })
        .then(function (res) {
          if (!res[0]) { status.textContent = res[1]; return; }
          status.innerHTML = res[1];
          root.querySelectorAll('figure').forEach(function (f) {
            f.classList.toggle('preferred', f.dataset.col === pending);
          });
          root.dataset.marked = pending;
        });
    });

    document.addEventListener('keydown', function (e) {
      if (dialog.open || e.target.matches('input, select, textarea') || e.ctrlKey || e.metaKey || e.altKey) return;
      if ((e.key === 'ArrowRight' || e.key === 'j') && root.dataset.next) {
        location.href = root.dataset.next;
      } else if ((e.key === 'ArrowLeft' || e.key === 'k') && root.dataset.prev) {
        location.href = root.dataset.prev;
      } else if (/^[1-9]$/.test(e.key) && +e.key <= cols.length) {
        e.preventDefault();
        ask(cols[+e.key - 1]);
      }
    });
  }

  // Work: the server sends the work table again every second.
  function setupWork(root) {
    var live = document.getElementById('live');
    var source = new EventSource(root.dataset.events);
    source.addEventListener('work', function (e) {
      root.innerHTML = e.data;
      live.className = 'live';
      live.textContent = 'live';
    });
    source.onerror = function () { live.className = 'live off'; live.textContent = 'reconnecting'; };
    window.addEventListener('pagehide', function () { source.close(); });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var cmp = document.getElementById('compare');
    if (cmp) setupCompare(cmp);
    var work = document.getElementById('work');
    if (work && work.dataset.events) setupWork(work);
  });
})();
