// LTI proctoring check: the camera must see the learner (one face) before they can start the attempt.
(function () {
  "use strict";
  const root = document.getElementById("check");
  const video = document.getElementById("video");
  const canvas = document.getElementById("canvas");
  const status = document.getElementById("check-status");
  const start = document.getElementById("start");
  const camera = window.EngagementCamera;
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  let passed = false;

  function say(text, ok) {
    status.textContent = text;
    status.className = "status " + (ok ? "status-ok" : "status-none");
  }

  async function check() {
    if (passed || !video.videoWidth) { return; }
    try {
      const response = await fetch(root.dataset.checkUrl, {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ image: camera.grab(video, canvas, 0.8) }),
      });
      const answer = await response.json();
      say(answer.message, answer.ok);
      if (answer.ok) { passed = true; start.disabled = false; }
    } catch (err) {
      say("The check could not reach the server: retrying.", false);
    }
  }

  // The monitoring window opens on the learner's click (browsers block windows opened otherwise) and gets the
  // agreement as a POST with this page's CSRF token (a GET records none); this page then sends the signed start
  // message to the platform.
  document.getElementById("start-form").addEventListener("submit", function () {
    window.open("", "exam-monitor", "popup,width=560,height=720");
    document.getElementById("monitor-form").submit();
  });

  (async function () {
    if (await camera.start(video, document.getElementById("camera-message"))) {
      setInterval(check, 2000);
      check();
    } else {
      say("The camera is needed for this exam.", false);
    }
  })();
})();
