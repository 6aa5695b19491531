// The try page: webcam -> JPEG data URL -> POST /analyze-mood -> bars, score, status, advice.
(function () {
  "use strict";
  const root = document.getElementById("try");
  const video = document.getElementById("video");
  const canvas = document.getElementById("canvas");
  const captureButton = document.getElementById("capture");
  const auto = document.getElementById("auto");
  const interval = document.getElementById("interval");
  const cameraMessage = document.getElementById("camera-message");
  const errorBox = document.getElementById("error");
  const tipBox = document.getElementById("tip");
  const autoState = document.getElementById("auto-state");
  const lastBox = document.getElementById("last");
  const CAPTURE_LABEL = captureButton.textContent;
  // One message per answer that is not an analysis, with what to do about it.
  const NOT_ANALYSED = {
    no_face: ["No face in view", "Tip: sit facing the camera, with light on your face rather than behind you."],
    face_too_small: ["Face too small", "Tip: move closer to the camera, so that your face fills more of the picture."],
  };
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
  let timer = null;
  let busy = false;

  const camera = window.EngagementCamera;
  const show = camera.show;

  async function startCamera() {
    captureButton.disabled = !(await camera.start(video, cameraMessage));
  }

  function grab() { return camera.grab(video, canvas, 0.85); }

  // A frame that could not be analysed must not leave the previous frame's score and advice on screen.
  function clearResult() {
    ["score", "dominant", "age", "gender"].forEach(function (id) { document.getElementById(id).textContent = "-"; });
    document.getElementById("emotions").replaceChildren();
    document.getElementById("recommendations").replaceChildren();
  }

  function render(result) {
    const status = document.getElementById("status");
    if (!result.success) {
      clearResult();
      status.className = "status status-none";
      const known = NOT_ANALYSED[result.error];
      if (known) {  // the status says it once; the tip says what to do
        status.textContent = known[0];
        show(errorBox, "");
        show(tipBox, known[1]);
      } else {
        status.textContent = "Not analysed";
        show(errorBox, result.message || result.error);
        show(tipBox, "");
      }
      return;
    }
    show(errorBox, "");
    show(tipBox, "");
    status.className = "status status-" + result.engagement_status;
    status.textContent = result.engagement_status.replace(/_/g, " ");
    document.getElementById("score").textContent = result.engagement_score.toFixed(1);
    document.getElementById("dominant").textContent = result.dominant_emotion;
    document.getElementById("age").textContent = result.age == null ? "-" : result.age;
    document.getElementById("gender").textContent = result.gender || "-";
    const bars = document.getElementById("emotions");
    bars.replaceChildren(...EMOTIONS.map(function (name) {
      const value = result.emotions[name];
      const row = document.createElement("div");
      row.className = "bar";
      row.dataset.emotion = name;
      const label = document.createElement("span");
      label.textContent = name;
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.display = "block";
      fill.style.width = value + "%";
      track.appendChild(fill);
      const pct = document.createElement("span");
      pct.textContent = value.toFixed(1) + "%";
      row.append(label, track, pct);
      return row;
    }));
    const list = document.getElementById("recommendations");
    list.replaceChildren(...result.recommendations.map(function (text) {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
  }

  function setBusy(on) {
    busy = on;
    captureButton.disabled = on;
    captureButton.setAttribute("aria-busy", on ? "true" : "false");
    captureButton.textContent = on ? "Analysing\u2026" : CAPTURE_LABEL;
  }

  async function analyse() {
    if (busy || !video.srcObject) { return; }
    setBusy(true);
    try {
      const response = await fetch(root.dataset.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ image: grab(), timestamp: new Date().toISOString() }),
      });
      let body;
      try { body = await response.json(); } catch (e) { body = { success: false, message: "The server answered " + response.status + "." }; }
      render(body);
      lastBox.textContent = "Last analysed at " + window.EngagementTime.clock(new Date()) + ".";
    } catch (err) {
      render({ success: false, message: "The server is unreachable. Check your connection; the page will keep trying." });
    } finally {
      setBusy(false);
    }
  }

  function schedule() {
    clearInterval(timer);
    timer = null;
    if (auto.checked) {
      const seconds = Math.min(60, Math.max(1, Number(interval.value) || 3));
      timer = setInterval(analyse, seconds * 1000);
      show(autoState, "Automatic: a frame every " + seconds + " s while this box is ticked.");
      analyse();  // the first one now, not after a whole interval
    } else {
      show(autoState, "");
    }
  }

  captureButton.addEventListener("click", analyse);
  auto.addEventListener("change", schedule);
  interval.addEventListener("change", schedule);
  startCamera();
})();
