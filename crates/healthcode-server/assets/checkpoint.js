// The checkpoint page. A keyboard-wedge scanner types the code's text and Enter into the
// focused field; the camera (qrcam.js) does the same. Each
// scan goes to the node's scan endpoint and its verdict fills the screen with a sound. When the
// node cannot be reached the scan waits in localStorage and is synced by the batch endpoint
// later, each judged at the time it was made.
(function () {
  var form = document.getElementById('scan-form');
  var input = document.getElementById('scan-input');
  var verdict = document.getElementById('verdict');
  var unsynced = document.getElementById('unsynced');
  if (!form || !input || !verdict) return;
  var zh = form.getAttribute('data-lang') !== 'en';
  var key = 'hc-offline-scans-' + form.getAttribute('data-checkpoint');
  var csrf = (document.querySelector('meta[name=csrf-token]') || {}).content || '';
  var hideTimer = null;
  var audio = null;

  function t(z, e) { return zh ? z : e; }
  function queue() { try { return JSON.parse(localStorage.getItem(key) || '[]'); } catch (e) { return []; } }
  function save(q) { localStorage.setItem(key, JSON.stringify(q)); unsynced.textContent = q.length; }
  function scanId() { return 'web-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 10); }

  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var tones = ok ? [[880, 0]] : [[220, 0], [220, 0.25]];
      tones.forEach(function (tone) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.frequency.value = tone[0];
        osc.connect(gain); gain.connect(audio.destination);
        gain.gain.value = 0.2;
        osc.start(audio.currentTime + tone[1]);
        osc.stop(audio.currentTime + tone[1] + 0.18);
      });
    } catch (e) { /* no sound on this device: the screen still says it */ }
  }

  function show(kind, icon, word, admit, name, reason) {
    verdict.className = 'verdict ' + kind;
    document.getElementById('verdict-icon').textContent = icon;
    document.getElementById('verdict-word').textContent = word;
    document.getElementById('verdict-admit').textContent = admit;
    document.getElementById('verdict-name').textContent = name || '';
    document.getElementById('verdict-reason').textContent = reason || '';
    verdict.hidden = false;
    clearTimeout(hideTimer);
    hideTimer = setTimeout(hide, 6000);
  }
  function hide() { verdict.hidden = true; input.focus(); }

  function answer(a) {
    var colour = a.colour || 'pending';
    var words = { green: ['绿码', 'Green code'], yellow: ['黄码', 'Yellow code'], red: ['红码', 'Red code'], pending: ['审核中', 'Under review'] };
    var w = a.outcome === 'invalid' ? ['无效码', 'Invalid code'] : (words[colour] || words.pending);
    var kind = a.outcome === 'invalid' ? 'deny' : colour;
    var icon = a.admit ? '✔' : '✖';
    show(kind, icon, t(w[0], w[1]), a.admit ? t('准予通行', 'ADMIT') : t('禁止通行', 'DENY'),
      a.masked_name, a.reason ? t(a.reason.message_zh, a.reason.message) : '');
    beep(a.admit);
  }

  function send(text) {
    var scan = { scan_id: scanId(), text: text, scanned_at: new Date().toISOString() };
    fetch('/api/v1/scans', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify(scan)
    }).then(function (r) {
      if (r.status >= 500) throw new Error('node unavailable');
      return r.json().then(function (body) {
        if (r.ok) { answer(body); return; }
        if (r.status === 401) { location.href = '/staff/login'; return; }
        show('deny', '✖', t('无法核验', 'Not checked'), t('请人工核验', 'Check by hand'), '', t(body.message_zh, body.message));
        beep(false);
      });
    }).catch(function () {
      var q = queue(); q.push(scan); save(q);
      show('queued', '◷', t('离线：已保存', 'Offline: saved'), t('请人工核验健康码', 'Check the code by eye'), '',
        t('联网后自动上传并按扫码时间核验', 'It will be synced and judged at its scan time when the node is back'));
      beep(false);
    });
  }

  function sync() {
    var q = queue();
    if (!q.length) return;
    var batch = q.slice(0, 1000);
    fetch('/api/v1/scans/batch', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify({ scans: batch })
    }).then(function (r) {
      if (!r.ok) return;
      return r.json().then(function () {
        // Every scan sent has its answer now (recorded, a duplicate, or refused with a reason).
        var sent = {};
        batch.forEach(function (s) { sent[s.scan_id] = true; });
        save(queue().filter(function (s) { return !sent[s.scan_id]; }));
      });
    }).catch(function () { /* still offline */ });
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var text = input.value.trim();
    input.value = '';
    if (text) send(text);
  });
  input.addEventListener('input', function () { if (!verdict.hidden) { verdict.hidden = true; } });
  verdict.addEventListener('click', hide);
  window.addEventListener('online', sync);
  setInterval(sync, 5000);
  save(queue());
  sync();
  input.focus();

  var start = document.getElementById('camera-start');
  var video = document.getElementById('camera');
  if (start && video && window.hcCamera && window.hcCamera.available) {
    start.hidden = false;
    var last = '', lastAt = 0;
    start.addEventListener('click', function () {
      start.hidden = true;
      window.hcCamera.start(video, function (text) {
        // The same code held in view is one scan, not one per frame.
        if (text !== last || Date.now() - lastAt > 5000) { last = text; lastAt = Date.now(); send(text); }
      }).catch(function () { start.hidden = false; });
    });
  }
})();
