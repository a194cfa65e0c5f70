// Reads QR codes from the camera: with the browser's BarcodeDetector where there is one, and
// otherwise with jsQR (vendored from npm, loaded only when needed), frame by frame from a canvas.
// hcCamera.start(video, onText) calls onText with each code's text; returns a promise.
(function () {
  function loadJsQR() {
    if (window.jsQR) return Promise.resolve(window.jsQR);
    return new Promise(function (resolve, reject) {
      var s = document.createElement('script');
      s.src = '/assets/jsqr-1.4.0.js';
      s.onload = function () { resolve(window.jsQR); };
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }
  function detector() {
    if ('BarcodeDetector' in window) {
      var d = new window.BarcodeDetector({ formats: ['qr_code'] });
      return Promise.resolve(function (video) {
        return d.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : ''; });
      });
    }
    return loadJsQR().then(function (jsQR) {
      var canvas = document.createElement('canvas');
      var ctx = canvas.getContext('2d', { willReadFrequently: true });
      return function (video) {
        var w = video.videoWidth, h = video.videoHeight;
        if (!w || !h) return Promise.resolve('');
        canvas.width = w; canvas.height = h;
        ctx.drawImage(video, 0, 0, w, h);
        var found = jsQR(ctx.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: 'dontInvert' });
        return Promise.resolve(found ? found.data : '');
      };
    });
  }
  window.hcCamera = {
    available: !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia),
    start: function (video, onText) {
      return Promise.all([detector(), navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } })])
        .then(function (both) {
          var read = both[0], stream = both[1];
          video.srcObject = stream; video.hidden = false; video.play();
          var stopped = false;
          var look = function () {
            if (stopped) return;
            read(video).then(function (text) {
              if (text && onText(text) === false) { stopped = true; stream.getTracks().forEach(function (t) { t.stop(); }); video.hidden = true; return; }
              setTimeout(look, 120);
            }).catch(function () { setTimeout(look, 250); });
          };
          look();
        });
    }
  };
})();
