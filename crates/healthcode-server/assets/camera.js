// Venue check-in: read the venue code with the phone's camera where the browser has a QR
// detector (BarcodeDetector); pasting the text always works.
(function () {
  var start = document.getElementById('camera-start');
  var video = document.getElementById('camera');
  var text = document.getElementById('text');
  var form = document.getElementById('checkin-form');
  if (!start || !video || !text || !form || !('BarcodeDetector' in window) || !navigator.mediaDevices) return;
  start.hidden = false;
  start.addEventListener('click', function () {
    var detector = new window.BarcodeDetector({ formats: ['qr_code'] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } }).then(function (stream) {
      video.srcObject = stream;
      video.hidden = false;
      video.play();
      var look = function () {
        detector.detect(video).then(function (codes) {
          if (codes.length) {
            stream.getTracks().forEach(function (t) { t.stop(); });
            text.value = codes[0].rawValue;
            form.submit();
          } else {
            requestAnimationFrame(look);
          }
        }).catch(function () { requestAnimationFrame(look); });
      };
      look();
    }).catch(function () { start.hidden = true; });
  });
})();
