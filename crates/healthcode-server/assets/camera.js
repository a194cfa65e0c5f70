// Venue check-in: read the venue code with the phone's camera (qrcam.js); pasting the text
// always works.
(function () {
  var start = document.getElementById('camera-start');
  var video = document.getElementById('camera');
  var text = document.getElementById('text');
  var form = document.getElementById('checkin-form');
  if (!start || !video || !text || !form || !window.hcCamera || !window.hcCamera.available) return;
  start.hidden = false;
  start.addEventListener('click', function () {
    window.hcCamera.start(video, function (code) {
      text.value = code;
      form.submit();
      return false;
    }).catch(function () { start.hidden = true; });
  });
})();
