// The code page: a live clock and the pass's remaining seconds, so a screenshot is visibly
// stale; the page renews the pass before it expires (a meta refresh does it without scripts).
(function () {
  var clock = document.getElementById('clock');
  var left = document.getElementById('remaining');
  var box = document.querySelector('[data-remaining]');
  if (!clock || !left || !box) return;
  var start = Date.now();
  var remaining = parseInt(box.getAttribute('data-remaining'), 10) || 0;
  var refresh = parseInt(box.getAttribute('data-refresh'), 10) || 5;
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  // The region's time (UTC+8), as every time on the pages, whatever the phone's zone.
  var offset = parseInt(clock.getAttribute('data-offset-minutes'), 10) || 0;
  function tick() {
    var now = new Date(Date.now() + offset * 60000);
    clock.textContent = now.getUTCFullYear() + '-' + pad(now.getUTCMonth() + 1) + '-' + pad(now.getUTCDate()) + ' ' +
      pad(now.getUTCHours()) + ':' + pad(now.getUTCMinutes()) + ':' + pad(now.getUTCSeconds());
    var gone = Math.floor((Date.now() - start) / 1000);
    left.textContent = Math.max(0, remaining - gone);
    if (gone >= refresh) { location.reload(); }
  }
  tick();
  setInterval(tick, 250);
})();
